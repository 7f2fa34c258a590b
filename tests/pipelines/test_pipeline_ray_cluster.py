"""The Ray executor on a real two-node Ray cluster: steps run on both nodes.

Two raylets on one machine make two Ray nodes. They live in a network namespace of their own
(only ``lo``), where Ray finds no address but 127.0.0.1 and accepts a second node; the namespace
isolates the network only, so every node and the driver share the SQLite file and the artifact
folder of the test. The pipeline is driven by a child process inside the namespace (a script
this module writes); this process reads the runs back with the SDK.

Placement is forced by resources, not by luck: each node has one CPU, ``left`` and ``right``
need one CPU each and wait for each other to start, so they can only run at the same time on
different nodes; ``join`` needs the custom resource ``node_b``, which only the second node
has, and reads both outputs, one of them written on the other node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pipeline_markers import count

if TYPE_CHECKING:
    from modelyard.pipelines import PipelineRun
    from modelyard.tracking.client import TrackingClient

if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its env on import
    pytest.skip("Ray is not installed: pip install 'modelyard[ray]'", allow_module_level=True)
if not sys.platform.startswith("linux") or shutil.which("ip") is None:
    pytest.skip(
        "a two-node Ray cluster needs Linux network namespaces (ip netns)", allow_module_level=True
    )

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent.parent / "src"
GCS_PORT = 6390  # the namespace is new, so a fixed port cannot clash

DRIVER = '''
"""Runs the pipeline twice on the cluster at RAY_ADDRESS; writes what the test checks."""

import json
import os
import sys
import time

import ray
from pipeline_markers import mark

import modelyard as yard


def _node_id():
    import ray

    return ray.get_runtime_context().get_node_id()


def _meet(folder, name, other, timeout=30.0):
    """Wait until step ``other`` has started too: both hold their CPU at the same time."""
    open(os.path.join(folder, "started-" + name), "w").close()
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(folder, "started-" + other)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"step {name!r} waited {timeout}s for step {other!r} to start")
        time.sleep(0.05)


@yard.step(resources={"num_cpus": 1})
def left(folder: str):
    mark(folder, "left")
    _meet(folder, "left", "right")
    return {"node": _node_id(), "pid": os.getpid(), "values": list(range(1000))}


@yard.step(resources={"num_cpus": 1})
def right(folder: str):
    mark(folder, "right")
    _meet(folder, "right", "left")
    return {"node": _node_id(), "pid": os.getpid(), "values": [2 * i for i in range(1000)]}


@yard.step(resources={"num_cpus": 1, "node_b": 1})  # a custom resource: only node B has it
def join(a, b, folder: str):
    mark(folder, "join")
    total = sum(a["values"]) + sum(b["values"])
    return {"node": _node_id(), "upstream": [a["node"], b["node"]], "total": total}


@yard.pipeline
def across_nodes(folder: str = ""):
    join(left(folder), right(folder), folder)


if __name__ == "__main__":
    folder, out = sys.argv[1], sys.argv[2]
    ray.init()  # RAY_ADDRESS; the executor joins this connection
    deadline = time.monotonic() + 30
    while len([n for n in ray.nodes() if n["Alive"]]) < 2:
        if time.monotonic() > deadline:
            sys.exit(f"the cluster has {ray.nodes()!r}, not two live nodes")
        time.sleep(0.2)
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    node_b = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "node_b" in n["Resources"]]
    first = across_nodes.run(folder=folder, executor="ray")
    second = across_nodes.run(folder=folder, executor="ray")
    with open(out, "w") as fileobj:
        json.dump(
            {"nodes": nodes, "node_b": node_b, "first": first.run_id, "second": second.run_id},
            fileobj,
        )
'''


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _namespace_pids(name: str) -> list[int]:
    out = _ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split()]


def _stop_namespace(name: str) -> None:
    """Kill every process in namespace ``name`` (all of them ours: the name is new), then
    delete it. ``ray stop`` is not used: it kills Ray processes by name on the whole machine."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _namespace_pids(name):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (2 if sig == signal.SIGTERM else 5)
        while _namespace_pids(name) and time.monotonic() < deadline:
            time.sleep(0.1)
    _ip("netns", "delete", name, check=False)


def _ray_start(namespace: str, env: dict[str, str], log: Path, *args: str) -> None:
    """``ray start`` in the namespace; returns when the node is up. Output goes to a file, as
    the node's processes inherit it and outlive the command."""
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    with log.open("w") as fileobj:
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, ray_bin, "start", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fileobj,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            timeout=120,
        )
    if proc.returncode != 0:
        pytest.fail(f"ray start {' '.join(args)} failed:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Cluster:
    """A running two-node cluster: its namespace and the environment of its processes."""

    namespace: str
    env: dict[str, str]


@dataclass(frozen=True)
class Driven:
    """What the driver did: the cluster's node ids, the two pipeline runs read back."""

    nodes: list[str]
    node_b: str  # the node started with the custom resource node_b
    first: PipelineRun
    second: PipelineRun
    client: TrackingClient
    markers: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A namespace with a head node and a second node, one CPU each."""
    name = f"yard-ray-{os.getpid()}-{secrets.token_hex(3)}"
    added = _ip("netns", "add", name, check=False)
    if added.returncode != 0:
        pytest.skip(f"cannot make a network namespace (ip netns add): {added.stderr.strip()}")
    logs = tmp_path_factory.mktemp("ray-logs")
    temp_dir = tempfile.mkdtemp(prefix="yard-ray-", dir="/tmp")  # Ray's socket paths stay short
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "RAY_"))}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),  # this cluster's own token, in every process
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1",  # "0" would refuse a second node
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(SRC), str(TESTS)]),
    )
    common = (
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--temp-dir={temp_dir}",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
    )
    try:
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        _ray_start(
            name,
            env,
            logs / "head.log",
            "--head",
            f"--port={GCS_PORT}",
            "--include-dashboard=false",
            *common,
        )
        _ray_start(
            name,
            env,
            logs / "node_b.log",
            f"--address=127.0.0.1:{GCS_PORT}",
            '--resources={"node_b": 1}',
            *common,
        )
        yield Cluster(name, {**env, "RAY_ADDRESS": f"127.0.0.1:{GCS_PORT}"})
    finally:
        _stop_namespace(name)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def driven(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driven]:
    """Run the driver script in the namespace, then read its runs back with the SDK."""
    import modelyard as yard
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    root = tmp_path_factory.mktemp("project")
    markers = root / "markers"
    markers.mkdir()
    script = root / "drive_cluster.py"
    script.write_text(DRIVER)
    out = root / "result.json"
    settings = {
        "project_root": str(root),
        "database_url": f"sqlite:///{root / 'yard.db'}",
        "artifact_url": str(root / "artifacts"),
    }
    env = {**cluster.env, **{Settings.env_name(k): v for k, v in settings.items()}}
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            cluster.namespace,
            sys.executable,
            str(script),
            str(markers),
            str(out),
        ],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the driver did not finish in 150s:\n{output[-4000:]}")
    assert proc.returncode == 0, f"the driver failed:\n{output[-4000:]}"
    result = json.loads(out.read_text())
    client = TrackingClient(
        Settings.load(
            project_root=settings["project_root"],
            database_url=settings["database_url"],
            artifact_url=settings["artifact_url"],
        )
    )
    try:
        first = yard.get_pipeline_run(result["first"], client=client)
        second = yard.get_pipeline_run(result["second"], client=client)
        assert len(result["node_b"]) == 1, result
        yield Driven(result["nodes"], result["node_b"][0], first, second, client, markers)
    finally:
        client.close()


def test_steps_run_on_both_nodes_and_read_each_others_outputs(driven: Driven) -> None:
    run, client = driven.first, driven.client
    assert len(driven.nodes) == 2
    assert run.status == "FINISHED", run.error
    assert run.executor == "ray"
    assert list(run.steps) == ["left", "right", "join"]
    left = run.output("left", client=client)
    right = run.output("right", client=client)
    joined = run.output("join", client=client)
    assert {left["node"], right["node"]} == set(driven.nodes)  # one step on each node
    assert joined["node"] == driven.node_b  # pinned by its custom resource
    assert joined["upstream"] == [left["node"], right["node"]]
    assert joined["total"] == 3 * sum(range(1000))
    assert os.getpid() not in (left["pid"], right["pid"])


def test_step_runs_are_linked_children_and_a_second_run_hits_the_cache(driven: Driven) -> None:
    first, second, client = driven.first, driven.second, driven.client
    for step in first.steps.values():
        child = client.get_run(str(step.run_id))
        assert child.parent_run_id == first.run_id and child.status == "FINISHED"
    join_inputs = {
        (i.direction, i.digest) for i in client.get_run(str(first.steps["join"].run_id)).inputs
    }
    for upstream in ("left", "right"):
        assert ("input", first.steps[upstream].outputs["output"].digest) in join_inputs

    assert second.status == "FINISHED", second.error
    assert second.cached_steps == ["left", "right", "join"]
    for name, step in second.steps.items():
        assert step.cached_from_run_id == first.steps[name].run_id
        assert count(driven.markers, name) == 1
    assert second.output("join", client=client) == first.output("join", client=client)
