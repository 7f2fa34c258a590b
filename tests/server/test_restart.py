"""A real ``modelyard server`` process: restarts mid-training lose and duplicate nothing, and a
big artifact streams through it without sitting in its memory."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from modelyard._digest import digest_file
from modelyard.tracking.client import TrackingClient

POINTS = 100_000


def test_restarting_the_server_mid_training_keeps_every_point_once(project, spawn_server):
    settings = project()
    server = spawn_server(settings)
    client = TrackingClient(
        settings.replace(tracking_uri=server.url, flush_interval=0.02, flush_size=2_000)
    )
    run_id = client.create_run("restarts")
    progress = {"step": 0}
    pids = [server.pid]
    failures: list[BaseException] = []

    def restart_twice() -> None:
        try:
            for at, sig in ((POINTS // 5, signal.SIGTERM), (POINTS // 2, signal.SIGKILL)):
                while progress["step"] < at:
                    time.sleep(0.005)
                server.stop(sig)
                server.start()
                pids.append(server.pid)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    restarter = threading.Thread(target=restart_twice)
    restarter.start()
    for step in range(POINTS):  # a training loop: one buffered log_metric per step
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        progress["step"] = step
        if step % 200 == 0:
            time.sleep(0.002)
    restarter.join(timeout=120)
    assert not failures, failures
    assert len(set(pids)) == 3  # two restarts really happened while points were flowing
    client.end_run(run_id)
    history = client.get_metric_history(run_id, "loss")
    assert len(history) == POINTS
    assert [m.step for m in history] == list(range(POINTS))
    assert client.get_run(run_id).status == "FINISHED"
    client.close()


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_big_artifact_streams_through_the_server(project, spawn_server, tmp_path):
    settings = project()
    server = spawn_server(settings)
    client = TrackingClient(settings.replace(tracking_uri=server.url))
    run_id = client.create_run("big")
    client.log_text(run_id, "warm up the routes", "warm.txt")
    assert client.read_artifact(run_id, "warm.txt") == b"warm up the routes"
    time.sleep(0.2)
    before = _rss(server.pid)

    big = tmp_path / "weights.bin"
    block = bytearray(range(256)) * 4096  # 1 MiB
    with open(big, "wb") as out:
        for i in range(200):
            block[:8] = i.to_bytes(8, "little")
            out.write(block)
    artifact = client.log_artifact(run_id, big)
    assert (artifact.digest, artifact.size) == digest_file(big)
    copy = client.download_artifact(run_id, "weights.bin", tmp_path / "copy.bin")
    assert digest_file(copy) == digest_file(big)

    growth = _peak_rss(server.pid) - before
    assert growth < 100 * 2**20, f"server memory grew by {growth / 2**20:.0f} MiB"
    client.end_run(run_id)
    client.close()
