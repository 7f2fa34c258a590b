"""Executors and failures on real processes: parallel branches, timeouts, crashes, kill -9 and
resume, and two runs of one pipeline at once."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner
from pipeline_markers import count, mark

import modelyard as yard
from modelyard.cli.main import cli as main_cli
from modelyard.cli.pipelines import pipelines
from modelyard.pipelines import list_pipeline_runs
from modelyard.pipelines.runner import pipeline_store

# The root command with the pipelines group (cli/main.py registers it; a copy keeps the test
# from changing the shared command).
cli = copy.copy(main_cli)
cli.commands = {**main_cli.commands, "pipelines": pipelines}


@yard.step
def slow(tag: str, folder: str):
    start = time.time()
    mark(folder, tag)
    time.sleep(1.0)
    return [os.getpid(), start, time.time()]


@yard.step
def join(a, b):
    return [a, b]


@yard.pipeline
def diamond(folder: str = ""):
    join(slow("left", folder), slow("right", folder))


def test_independent_branches_run_at_once_in_worker_processes(client, markers):
    result = diamond.run(folder=markers, max_workers=2, client=client)
    assert result.status == "FINISHED", result.error
    (pid_a, start_a, end_a), (pid_b, start_b, end_b) = result.output("join", client=client)
    assert os.getpid() not in (pid_a, pid_b) and pid_a != pid_b
    assert start_b < end_a and start_a < end_b  # they overlapped
    assert result.executor == "local"


@yard.step(timeout=3, retries=1, retry_delay=0)  # the clock starts at submission: leave the
def hang(folder: str):  # worker process time to start on a busy machine
    mark(folder, "hang")
    time.sleep(60)


@yard.step
def crash():
    os._exit(3)


@yard.pipeline
def stuck(folder: str = ""):
    hang(folder)


@yard.pipeline
def crashing():
    crash()


def test_a_step_past_its_timeout_is_killed_and_fails(sqlite_settings, markers):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    started = time.monotonic()
    result = stuck.run(folder=markers, max_workers=0, client=client)  # timeouts need a process
    assert time.monotonic() - started < 20
    assert result.status == "FAILED"
    assert result.error == "step 'hang' failed: timed out after 3s (after 2 attempts)"
    assert result.steps["hang"].attempts == 2 and count(markers, "hang") == 2
    client.close()


def test_a_worker_that_dies_fails_its_step(sqlite_settings):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    result = crashing.run(max_workers=1, client=client)
    assert result.status == "FAILED"
    assert "the worker process died (exit code 3)" in result.error
    client.close()


FLOW = textwrap.dedent(
    """
    import sys, time
    import modelyard as yard
    from modelyard.settings import Settings
    from pipeline_markers import count, mark

    @yard.step(cache=False)
    def first(folder):
        mark(folder, "first")
        return 1

    @yard.step
    def second(x, folder):
        mark(folder, "second")
        return x + 1

    @yard.step
    def third(x, folder):
        mark(folder, "third")
        if count(folder, "third") == 1:
            time.sleep(60)
        return x + 1

    @yard.pipeline
    def flow(folder: str = ""):
        third(second(first(folder), folder), folder)

    if __name__ == "__main__":
        yard.configure(Settings.load(database_url=sys.argv[1], artifact_url=sys.argv[2]))
        flow.run(folder=sys.argv[3], max_workers=int(sys.argv[4]))
    """
)


def test_kill_9_midway_then_resume_reuses_completed_steps(
    sqlite_settings, markers, tmp_path, subprocess_env
):
    script = tmp_path / "killflow.py"
    script.write_text(FLOW)
    db, artifacts = sqlite_settings.database_url, sqlite_settings.artifact_url
    proc = subprocess.Popen(
        [sys.executable, str(script), db, artifacts, markers, "1"], env=subprocess_env
    )
    try:
        deadline = time.monotonic() + 60
        while count(markers, "third") == 0:
            assert proc.poll() is None, "the pipeline process ended early"
            assert time.monotonic() < deadline, "the third step never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    sys.path.insert(0, str(tmp_path))
    try:
        result = CliRunner().invoke(
            cli,
            ["--database-url", db, "--artifact-url", artifacts, "pipelines", "list", "--json"],
        )
        import json

        killed = json.loads(result.output)["pipeline_runs"][0]
        assert killed["status"] == "KILLED"
        assert killed["steps"]["third"]["status"] == "KILLED"
        args = ["--database-url", db, "--artifact-url", artifacts, "pipelines", "resume"]
        result = CliRunner().invoke(cli, [*args, killed["run_id"][:8], "--max-workers", "0"])
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("killflow", None)
    assert result.exit_code == 0, result.output
    assert (count(markers, "first"), count(markers, "second"), count(markers, "third")) == (1, 1, 2)
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings)
    resumed = list_pipeline_runs(client=client)[0]
    assert resumed.status == "FINISHED"
    assert resumed.resumed_from_run_id == killed["run_id"]
    assert resumed.cached_steps == ["first", "second"]
    assert resumed.steps["first"].cached_from_run_id == killed["steps"]["first"]["run_id"]
    assert resumed.output("third", client=client) == 3
    client.close()


CONCURRENT = textwrap.dedent(
    """
    import sys, time
    import modelyard as yard
    from modelyard.settings import Settings

    @yard.step
    def produce(n):
        time.sleep(0.5)
        return list(range(n))

    @yard.step
    def total(xs):
        time.sleep(0.2)
        return sum(xs)

    @yard.pipeline
    def flow(n: int = 5):
        total(produce(n))

    if __name__ == "__main__":
        yard.configure(Settings.load(database_url=sys.argv[1], artifact_url=sys.argv[2]))
        result = flow.run(max_workers=0)
        print(result.run_id, result.status, flush=True)
    """
)


def test_two_runs_at_once_keep_one_valid_cache_entry_per_key(
    client, settings, tmp_path, subprocess_env
):
    script = tmp_path / "together.py"
    script.write_text(CONCURRENT)
    args = [sys.executable, str(script), settings.database_url, settings.artifact_url]
    procs = [
        subprocess.Popen(args, env=subprocess_env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert [o[1] for o in outputs] == ["FINISHED", "FINISHED"]
    runs = [yard.get_pipeline_run(o[0], client=client) for o in outputs]
    store = pipeline_store(client)
    for name in ("produce", "total"):
        keys = {r.steps[name].cache_key for r in runs}
        assert len(keys) == 1
        entry = store.get_cache(keys.pop())
        producers = {r.steps[name].cached_from_run_id or r.steps[name].run_id for r in runs}
        assert entry["run_id"] in producers
    for run in runs:
        assert run.output("total", client=client) == 10


@pytest.fixture(autouse=True)
def _no_leftover_children():
    yield
    # every worker process a test started has exited or been killed by its executor
    assert not [p for p in _children() if "modelyard.pipelines.worker" in p]


def _children() -> list[str]:
    try:
        out = subprocess.run(
            ["ps", "-o", "args=", "--ppid", str(os.getpid())],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return []
    return out.splitlines()
