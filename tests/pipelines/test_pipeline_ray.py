"""The Ray executor on a real Ray cluster (``ray start --head`` on 127.0.0.1, two CPUs).

One cluster serves the module; tests connect through ``RAY_ADDRESS`` like a user would. Steps
are Ray tasks with their resources; outputs go through the artifact store, so the cache is the
same as the local executor's.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from pipeline_markers import count, mark

import modelyard as yard

if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its env on import
    pytest.skip("Ray is not installed: pip install 'modelyard[ray]'", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster():
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    # Ray on these machines: stay on 127.0.0.1 for a single node, and use token auth in every
    # Ray process, the driver (this one) included. The cluster gets a token of its own: a new
    # machine has no ~/.ray/auth_token, and `ray start` does not make one.
    ray_env = {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(
        ray_env,
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([os.path.abspath(src), os.path.dirname(__file__)]),
    )
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = _free_port()
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    proc = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "ray start exited"
            assert time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(0.2)
    saved = {k: os.environ.get(k) for k in (*ray_env, "RAY_ADDRESS")}
    os.environ.update(ray_env, RAY_ADDRESS=address)
    try:
        yield address
    finally:
        import ray

        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _session_pids(sid: int) -> list[int]:
    """Processes of session ``sid``: the head and everything Ray started (its workers sit in
    process groups of their own, but stay in the session)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fileobj:
                fields = fileobj.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(entry))
    return out


def _stop(proc: subprocess.Popen) -> None:
    """Stop the head and every Ray process it started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _session_pids(proc.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while _session_pids(proc.pid) and time.monotonic() < deadline:
            proc.poll()
            time.sleep(0.1)
    proc.wait(timeout=10)


@yard.step(resources={"num_cpus": 1})
def where(n: int, folder: str):
    mark(folder, "where")
    return {"pid": os.getpid(), "n": n}


@yard.step
def square(info, c: float):
    return {"score": info["n"] * c - c * c}


@yard.step(timeout=2)
def too_slow():
    time.sleep(60)


@yard.pipeline
def on_ray(n: int = 3, c: float = 1.0, folder: str = ""):
    square(where(n, folder), c)


@yard.pipeline
def slow_on_ray():
    too_slow()


def test_steps_run_as_ray_tasks_and_share_the_cache_with_local(ray_cluster, client, markers):
    result = on_ray.run(c=1.0, folder=markers, executor="ray", client=client)
    assert result.status == "FINISHED", result.error
    assert result.executor == "ray"
    assert result.output("where", client=client)["pid"] != os.getpid()
    assert result.metrics["score"] == 2.0
    local = on_ray.run(c=1.0, folder=markers, max_workers=0, client=client)
    assert local.cached_steps == ["where", "square"]
    assert count(markers, "where") == 1


def test_a_ray_task_past_its_timeout_is_cancelled(ray_cluster, sqlite_settings):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    started = time.monotonic()
    result = slow_on_ray.run(executor="ray", client=client)
    assert time.monotonic() - started < 30
    assert result.status == "FAILED"
    assert result.error == "step 'too_slow' failed: timed out after 2s"
    client.close()


def test_a_sweep_on_ray(ray_cluster, sqlite_settings, markers):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    result = yard.sweep(
        on_ray,
        grid={"c": [0.5, 1.5, 3.0]},
        params={"folder": markers},
        metric="score",
        executor="ray",
        client=client,
    )
    assert [t.run.status for t in result.trials] == ["FINISHED"] * 3
    assert result.best is not None and result.best.params == {"c": 1.5}
    assert count(markers, "where") == 1
    client.close()
