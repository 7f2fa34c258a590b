"""Pipelines in remote mode: the SDK talking to a real ``modelyard server`` on 127.0.0.1.

``settings`` is overridden here: the server is started for each test over a SQLite file and an
artifact folder, and the client's settings name the server, an unreachable database and an
empty artifact folder of their own, so anything that went around the server would fail. The
pipeline tests imported below run again that way, unchanged (in-process, and on the process
pool, whose workers get the same settings). ``local`` is a client on the server's stores, to
compare with.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from pipeline_markers import count

# The same tests, collected again in this module, so they run through the server.
from test_pipeline_executors import (  # noqa: F401
    _no_leftover_children,
    test_independent_branches_run_at_once_in_worker_processes,
)
from test_pipeline_runs import (  # noqa: F401
    fragile,
    recoverable,
    test_a_changed_helper_function_is_named,
    test_a_failed_step_fails_the_run_with_its_name_and_error_after_retries,
    test_cache_false_always_runs_and_cache_expiry_ages_out,
    test_dry_run_and_explain_say_which_param_and_input_changed,
    test_files_read_by_steps_are_part_of_the_key,
    test_outputs_of_every_kind_travel_between_steps,
    test_resume_reruns_from_the_failed_step,
    test_steps_are_child_runs_with_linked_data_and_the_second_run_hits_the_cache,
    training,
)
from test_pipeline_sweeps import (  # noqa: F401
    test_grid_sweep_runs_each_trial_as_a_child_run_and_picks_the_best,
    test_random_search_samples_a_space_repeatably,
)

import modelyard as yard
from dropping_proxy import DroppingProxy
from modelyard.errors import AlreadyExists, InvalidState, NotFound
from modelyard.pipelines.remote import RemotePipelineStore
from modelyard.pipelines.runner import pipeline_store
from modelyard.pipelines.sqlstore import SqlPipelineStore

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:9/nothing"


@pytest.fixture
def stores(tmp_path):
    """Settings of the server's stores (a SQLite file and an artifact folder)."""
    from modelyard.settings import Settings

    return Settings.load(
        project_root=str(tmp_path),
        database_url=f"sqlite:///{tmp_path / 'store' / 'modelyard.db'}",
        artifact_url=str(tmp_path / "artifacts"),
        flush_interval=0.2,
    )


@pytest.fixture
def server(stores, request):
    from modelyard.server.runner import ThreadedServer

    running = ThreadedServer(stores).start()
    request.addfinalizer(running.stop)
    return running


@pytest.fixture
def settings(stores, server, tmp_path):
    """The client's settings: the server, and stores of its own that it must not use."""
    return stores.replace(
        tracking_uri=server.url,
        database_url=NOWHERE,
        artifact_url=str(tmp_path / "not-the-server-artifacts"),
    )


@pytest.fixture
def local(stores):
    """A client on the server's own stores (no HTTP), to compare answers with."""
    from modelyard.tracking.client import TrackingClient

    c = TrackingClient(stores)
    yield c
    c.close()


def test_the_pipeline_store_is_the_server_and_answers_as_the_local_one(
    client, local, markers, tmp_path
):
    store = pipeline_store(client)
    assert isinstance(store, RemotePipelineStore)
    assert store.session is client.store.session
    assert isinstance(pipeline_store(local), SqlPipelineStore)
    first = training.run(c=1.0, folder=markers, max_workers=0, client=client)
    failed = fragile.run(folder=markers, max_workers=0, client=client)
    assert failed.status == "FAILED"
    for run_id in (first.run_id, failed.run_id, first.run_id[:6]):
        assert yard.get_pipeline_run(run_id, client=client) == yard.get_pipeline_run(
            run_id, client=local
        )
    assert yard.list_pipeline_runs(client=client) == yard.list_pipeline_runs(client=local)
    assert yard.list_pipelines(client=client) == yard.list_pipelines(client=local)
    assert [p.name for p in yard.list_pipelines(client=client)] == ["fragile", "training"]
    remote_row = store.get_pipeline_run(first.run_id)
    local_row = pipeline_store(local).get_pipeline_run(first.run_id)
    for key in ("run_id", "pipeline", "params", "graph", "executor", "status", "metrics"):
        assert remote_row[key] == local_row[key], key
    same = ("step", "run_id", "cache_key", "components", "outputs", "attempts", "status")
    assert [{k: s[k] for k in same} for s in remote_row["steps"]] == [
        {k: s[k] for k in same} for s in local_row["steps"]
    ]
    step_ids = [s.run_id for s in first.steps.values()]
    assert store.latest_metrics(step_ids) == pipeline_store(local).latest_metrics(step_ids)
    key = first.steps["fit"].cache_key
    assert store.get_cache(key) == pipeline_store(local).get_cache(key)
    assert store.get_cache("0" * 64) is None
    assert store.previous_step_run("training", "fit") == pipeline_store(local).previous_step_run(
        "training", "fit"
    )
    # nothing went around the server: the client's own artifact folder was never made
    assert not (tmp_path / "not-the-server-artifacts").exists()


def test_errors_come_back_by_class_with_message_and_hint(client, local, markers):
    with pytest.raises(NotFound) as info:
        yard.get_pipeline_run("feedbeef", client=client)
    assert info.value.message == "there is no pipeline run 'feedbeef'"
    assert info.value.hint == "list them with: modelyard pipelines list"
    with pytest.raises(NotFound, match="no pipeline run 'x'"):
        yard.get_pipeline_run("x", client=client)  # not an id the routes take: the same error
    done = training.run(folder=markers, max_workers=0, client=client)
    with pytest.raises(InvalidState, match="nothing to resume"):
        yard.resume_pipeline(done.run_id, client=client)
    store = pipeline_store(client)
    fit = done.steps["fit"]
    # the server refuses to start a step under the id of another run: 409, AlreadyExists
    with pytest.raises(AlreadyExists) as taken:
        store.start_step_run(
            run_id=done.run_id,
            pipeline_run_id=done.run_id,
            experiment_id=1,
            step="fit",
            run_fields={},
            params={},
            tags={},
            cache_key=None,
            components=None,
        )
    assert f"run {done.run_id} already exists" in taken.value.message
    assert "fresh run id" in str(taken.value.hint)
    with pytest.raises(NotFound, match="no step run"):
        store.update_attempts(uuid.uuid4().hex, 2)
    with pytest.raises(NotFound, match="does not have"):
        store.create_pipeline_run(
            uuid.uuid4().hex,
            pipeline="ghost",
            source=None,
            params={},
            graph={"pipeline": "ghost", "steps": []},
            executor="inline",
            resumed_from=None,
        )
    assert yard.get_pipeline_run(done.run_id, client=local).steps["fit"] == fit


def test_every_write_can_be_repeated_with_the_same_effect(client, local, markers):
    """The requests a run makes, sent twice each: one record, as after a lost answer."""
    session = client.store.session
    run = training.run(folder=markers, max_workers=0, client=client)
    row = pipeline_store(local).get_pipeline_run(run.run_id)
    fit = next(s for s in row["steps"] if s["step"] == "fit")
    copy_id = client.create_run(None, name="copy")  # the tracked run of a second record
    body = {k: row[k] for k in ("pipeline", "source", "params", "graph", "executor")}
    step_id = uuid.uuid4().hex
    start = {
        "pipeline_run_id": copy_id,
        "experiment_id": local.get_run(copy_id).experiment_id,
        "step": "fit",
        "run_fields": {"user": "ana", "host": "laptop", "pid": 1},
        "params": {"c": "1.0"},
        "tags": {"modelyard.step": "fit"},
        "cache_key": fit["cache_key"],
        "components": fit["components"],
    }
    end = {
        "status": "FINISHED",
        "attempts": 1,
        "outputs": fit["outputs"],
        "artifacts": [[o["path"], o["blob"], o["size"]] for o in fit["outputs"]],
        "datasets": [[o["digest"], "output", f"fit.{o['name']}"] for o in fit["outputs"]],
        "cache": {"key": fit["cache_key"], "step": "fit", "outputs": fit["outputs"]},
    }
    for _ in range(2):
        session.call("PUT", f"/api/pipelines/runs/{copy_id}", body=body | {"resumed_from": None})
        session.call("PUT", f"/api/pipelines/steps/{step_id}", body=start)
        session.call("PATCH", f"/api/pipelines/steps/{step_id}", body={"attempts": 1})
        session.call("POST", f"/api/pipelines/steps/{step_id}/end", body=end)
    with pytest.raises(AlreadyExists, match="already has a step"):  # another id, same step
        session.call("PUT", f"/api/pipelines/steps/{uuid.uuid4().hex}", body=start)
    again = local.get_run(step_id)
    assert again.status == "FINISHED" and again.params == {"c": "1.0"}
    assert [a.path for a in local.list_artifacts(step_id)] == [fit["outputs"][0]["path"]]
    outputs = [i for i in again.inputs if i.direction == "output"]
    assert len(outputs) == 1
    copied = pipeline_store(local).get_pipeline_run(copy_id)
    assert copied["graph"] == row["graph"] and copied["params"] == row["params"]
    assert [(s["step"], s["run_id"], s["attempts"]) for s in copied["steps"]] == [
        ("fit", step_id, 1)
    ]
    assert copied["steps"][0]["outputs"] == fit["outputs"]
    # the cache entry is still the first one (insert-or-ignore)
    assert pipeline_store(local).get_cache(fit["cache_key"])["run_id"] == fit["run_id"]


def every_second_pipeline_write() -> Callable[[bytes], bool]:
    """A ``choose`` for :class:`DroppingProxy`: the answer to every second write of pipelines."""
    writes = 0

    def choose(head: bytes) -> bool:
        nonlocal writes
        if head[:7] in (b"PUT /ap", b"POST /a", b"PATCH /") and b" /api/pipelines/" in head[:80]:
            writes += 1
            return writes % 2 == 0
        return False

    return choose


def test_lost_answers_to_writes_are_retried_without_doubling_anything(
    settings, server, local, markers, tmp_path
):
    from modelyard.tracking.client import TrackingClient

    proxy = DroppingProxy(server.url, choose=every_second_pipeline_write())
    client = TrackingClient(settings.replace(tracking_uri=proxy.url))
    try:
        flag = tmp_path / "flag"
        flag.write_text("")
        failed = recoverable.run(flag=str(flag), folder=markers, max_workers=0, client=client)
        assert failed.status == "FAILED"
        flag.unlink()
        resumed = failed.resume(client=client)
        first = training.run(folder=markers, max_workers=0, client=client)
        second = training.run(folder=markers, max_workers=0, client=client)
    finally:
        client.close()
        proxy.close()
    assert proxy.dropped >= 5
    assert resumed.status == "FINISHED" and resumed.cached_steps == ["upstream"]
    assert (count(markers, "upstream"), count(markers, "picky")) == (1, 2)
    assert first.status == "FINISHED" and not first.cached_steps
    assert second.cached_steps == ["make_frame", "fit", "score"]
    for run in (failed, resumed, first, second):
        stored = pipeline_store(local).get_pipeline_run(run.run_id)
        assert len(stored["steps"]) == len({s["step"] for s in stored["steps"]})
        assert yard.get_pipeline_run(run.run_id, client=local) == run
        children = local.search_runs(
            local.get_run(run.run_id).experiment_id, filter=f"parent_run_id = '{run.run_id}'"
        )
        assert sorted(r.run_id for r in children) == sorted(s["run_id"] for s in stored["steps"])
    assert all(s.attempts == 1 for s in first.steps.values())
