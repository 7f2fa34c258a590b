"""Nothing logged is lost: concurrent writers, SIGKILL, SIGTERM, buffering and flush failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelyard.errors import StoreError
from modelyard.tracking.buffer import MetricBuffer


def _script(settings, body: str) -> str:
    return textwrap.dedent(
        f"""
        import os, sys, time
        import modelyard as yard
        yard.configure(project_root={settings.project_root!r},
                       database_url={settings.database_url!r},
                       artifact_url={settings.artifact_url!r},
                       flush_interval=0.05, capture_code=False)
        """
    ) + textwrap.dedent(body)


def _spawn(settings, body: str, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(_script(settings, body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_write_at_once_without_losing_points(settings, client, tmp_path):
    body = """
    yard.set_experiment("concurrent")
    with yard.start_run(name=sys.argv[0]) as run:
        for step in range(5000):
            yard.log_metric("loss", step * 0.5, step=step)
            if step % 500 == 0:
                yard.log_params({f"p{step}": step})
                yard.set_tags({"at": step})
    print(run.id)
    """
    procs = [_spawn(settings, body, tmp_path, f"writer{i}") for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    for out, _ in outs:
        run_id = out.strip().splitlines()[-1]
        history = client.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(5000))
        run = client.get_run(run_id)
        assert run.status == "FINISHED" and len(run.params) == 10


def test_sigkill_keeps_flushed_points_and_run_is_marked_killed(settings, client, tmp_path):
    body = """
    with yard.start_run(name="doomed") as run:
        for step in range(1000):
            yard.log_metric("loss", 1.0, step=step)
        yard.flush()
        print(run.id, flush=True)
        time.sleep(60)
    """
    proc = _spawn(settings, body, tmp_path, "doomed")
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert client.get_run(run_id).status == "RUNNING"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert client.mark_dead_runs() == [run_id]
    run = client.get_run(run_id)
    assert run.status == "KILLED"
    assert f"process {proc.pid}" in run.error and "SIGKILL" in run.error
    assert len(client.get_metric_history(run_id, "loss")) == 1000


def test_sigterm_flushes_and_marks_killed(settings, client, tmp_path):
    body = """
    with yard.start_run(name="terminated") as run:
        print(run.id, flush=True)
        step = 0
        while True:
            yard.log_metric("loss", 1.0, step=step)
            step += 1
            if step % 1000 == 0:
                time.sleep(0.01)
    """
    proc = _spawn(settings, body, tmp_path, "terminated")
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    run = client.get_run(run_id)
    assert run.status == "KILLED"
    assert "SIGTERM" in run.error
    history = client.get_metric_history(run_id, "loss")
    assert len(history) > 1000
    # every point up to the last one written is there: steps are contiguous
    assert [m.step for m in history] == list(range(len(history)))


def test_interpreter_exit_flushes_and_finishes_open_runs(settings, client, tmp_path):
    body = """
    run = yard.start_run(name="never ended")
    for step in range(3000):
        yard.log_metric("loss", 1.0, step=step)
    print(run.id, flush=True)
    """
    proc = _spawn(settings, body, tmp_path, "exit")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run = client.get_run(out.strip())
    assert run.status == "FINISHED"
    assert len(client.get_metric_history(run.run_id, "loss")) == 3000


def test_uncaught_exception_at_exit_marks_failed(settings, client, tmp_path):
    body = """
    run = yard.start_run(name="crashes")
    print(run.id, flush=True)
    raise ValueError("bad shape")
    """
    proc = _spawn(settings, body, tmp_path, "crash")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    run = client.get_run(out.strip())
    assert run.status == "FAILED"
    assert "ValueError: bad shape" in run.error


def test_log_metric_does_not_wait_on_the_database(yard):
    with yard.start_run():
        started = time.perf_counter()
        for step in range(20_000):
            yard.log_metric("loss", 0.1, step=step)
        queued = time.perf_counter() - started
    # 20,000 synchronous inserts would take seconds; queueing takes milliseconds
    assert queued < 1.0


def test_failed_flush_keeps_points_in_order_and_raises():
    written: list[tuple] = []
    fail = {"on": True}

    def write(points):
        if fail["on"]:
            raise StoreError("database unreachable")
        written.extend(points)

    buffer = MetricBuffer(write, flush_interval=3600)
    for step in range(10):
        buffer.add(("r", "loss", float(step), 0, step))
    with pytest.raises(StoreError):
        buffer.flush()
    assert buffer.pending() == 10
    buffer.add(("r", "loss", 10.0, 0, 10))
    fail["on"] = False
    assert buffer.flush() == 11
    assert [p[4] for p in written] == list(range(11))
    buffer.close()


def test_background_thread_flushes_by_size():
    written: list[tuple] = []
    buffer = MetricBuffer(written.extend, flush_interval=3600, flush_size=100)
    for step in range(250):
        buffer.add(("r", "loss", 0.0, 0, step))
    deadline = time.monotonic() + 5
    while len(written) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(written) >= 200
    buffer.close()
    assert len(written) == 250


def test_idempotent_batches_are_written_once(client):
    run_id = client.create_run("idem")
    points = [(run_id, "loss", float(i), 1000 + i, i) for i in range(50)]
    assert client.store.log_metrics(points, batch_id="batch-1") == 50
    assert client.store.log_metrics(points, batch_id="batch-1") == 0
    assert len(client.get_metric_history(run_id, "loss")) == 50


def test_open_runs_send_heartbeats_without_logging(settings):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(settings.replace(heartbeat_interval=0.1, flush_interval=0.05))
    run_id = client.create_run("beats")
    first = client.get_run(run_id).heartbeat_at
    deadline = time.monotonic() + 10
    while client.get_run(run_id).heartbeat_at == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get_run(run_id).heartbeat_at > first
    client.end_run(run_id)
    client.close()


def test_stale_reason_explains_a_silent_run(client):
    run_id = client.create_run("stale")
    run = client.get_run(run_id)
    assert run.stale_reason(run.heartbeat_at + 1000, timeout_ms=60_000) is None
    reason = run.stale_reason(run.heartbeat_at + 10 * 60_000, timeout_ms=60_000)
    assert "no heartbeat for 10 min" in reason and str(run.pid) in reason
    client.end_run(run_id)
    assert client.get_run(run_id).stale_reason(10**13, 1) is None
