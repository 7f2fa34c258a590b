"""Pipelines over HTTP: pipelines, pipeline runs, their DAG, and explain.

Pipelines run for real (in-process executor) through the SDK into the parametrized metadata
store (SQLite, or PostgreSQL with ``MODELYARD_TEST_DATABASE_URL``); the API is driven
in-process (httpx ASGITransport).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from demo_flows import fragile, training

READ = "r-" + "7" * 20


@dataclass(frozen=True)
class Runs:
    first: str  # training c=1: every step ran
    second: str  # training c=1 again: every step from the cache
    third: str  # training c=2: prepare cached, fit and evaluate ran
    failed: str  # fragile: explode failed, after never started


def _run(settings: Any) -> Runs:
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(settings)
    try:
        first = training.run(max_workers=0, client=client)
        second = training.run(max_workers=0, client=client)
        third = training.run(c=2.0, max_workers=0, client=client)
        failed = fragile.run(max_workers=0, client=client)
    finally:
        client.close()
    assert [first.status, second.status, third.status] == ["FINISHED"] * 3
    assert failed.status == "FAILED"
    return Runs(first.run_id, second.run_id, third.run_id, failed.run_id)


@pytest.fixture
def stores(project, database_url, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{READ} read\n")
    settings = project(database_url=database_url, server_tokens_file=str(tokens))
    return settings, _run(settings)


@pytest.fixture
def api(stores, call):
    from modelyard.server.app import create_app

    return call(create_app(stores[0]), headers={"authorization": f"Bearer {READ}"})


@pytest.fixture
def runs(stores) -> Runs:
    return stores[1]  # type: ignore[no-any-return]


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def test_pipelines_are_listed_with_their_newest_run(api, runs: Runs):
    response = api.get("/api/pipelines")
    assert response.status_code == 200
    found = {p["name"]: p for p in response.json()["pipelines"]}
    assert list(found) == ["fragile", "training"]  # by name
    assert found["training"]["runs"] == 3
    assert found["training"]["last_run_id"] == runs.third
    assert found["training"]["last_status"] == "FINISHED"
    assert found["training"]["source"].endswith(":training")
    assert found["fragile"]["runs"] == 1 and found["fragile"]["last_status"] == "FAILED"


def test_runs_list_newest_first_with_steps_and_metrics(api, runs: Runs):
    response = api.get("/api/pipelines/runs", params={"pipeline": "training"})
    assert response.status_code == 200
    listed = response.json()["pipeline_runs"]
    assert [r["run_id"] for r in listed] == [runs.third, runs.second, runs.first]
    third = listed[0]
    assert third["params"] == {"n": 5, "c": 2.0}
    assert third["metrics"]["auc"] == pytest.approx(20 / 21)
    assert [s["cached"] for s in third["steps"].values()] == [True, False, False]
    assert all(s["cached"] for s in listed[1]["steps"].values())

    everything = api.get("/api/pipelines/runs", params={"max_results": 2}).json()
    assert [r["run_id"] for r in everything["pipeline_runs"]] == [runs.failed, runs.third]
    assert api.get("/api/pipelines/runs", params={"pipeline": "none"}).json() == {
        "pipeline_runs": []
    }


def test_a_run_has_its_steps_cache_hits_and_outputs(api, runs: Runs):
    body = api.get(f"/api/pipelines/runs/{runs.second}").json()
    assert body["run_id"] == runs.second and body["status"] == "FINISHED"
    first = api.get(f"/api/pipelines/runs/{runs.first[:8]}").json()  # a unique prefix works
    assert first["run_id"] == runs.first
    for name, step in body["steps"].items():
        assert step["cached_from_run_id"] == first["steps"][name]["run_id"]
        assert (
            step["outputs"]["output"]["digest"]
            == first["steps"][name]["outputs"]["output"]["digest"]
        )

    failed = api.get(f"/api/pipelines/runs/{runs.failed}").json()
    assert failed["status"] == "FAILED"
    assert "explode" in failed["error"] and "bad <input> n=1" in failed["error"]
    assert failed["steps"]["explode"]["status"] == "FAILED"
    assert failed["steps"]["after"]["status"] == "SKIPPED"
    assert failed["steps"]["after"]["run_id"] is None


def test_the_graph_as_json_and_as_a_picture(api, runs: Runs):
    graph = api.get(f"/api/pipelines/runs/{runs.third}/graph").json()
    assert graph["pipeline"] == "training"
    steps = {s["name"]: s for s in graph["steps"]}
    assert list(steps) == ["prepare", "fit", "evaluate"]
    inputs = steps["evaluate"]["inputs"]
    assert inputs == {"model": ["fit", "output"], "data": ["prepare", "output"]}

    picture = api.get(f"/api/pipelines/runs/{runs.third}/graph", params={"format": "svg"})
    assert picture.status_code == 200
    assert picture.headers["content-type"].startswith("image/svg+xml")
    assert picture.headers["content-security-policy"] == "sandbox"
    svg = picture.text
    assert svg.startswith("<svg") and svg.count('class="step ') == 3
    assert 'data-step="prepare"' in svg and "finished (cached)" in svg


def test_explain_names_what_changed_step_by_step(api, runs: Runs):
    response = api.get("/api/pipelines/explain", params={"run_a": runs.first, "run_b": runs.third})
    assert response.status_code == 200
    steps = response.json()["steps"]
    assert steps["prepare"]["same_key"] is True
    assert steps["fit"]["changes"] == [{"part": "param", "name": "c", "before": 1.0, "after": 2.0}]
    assert steps["fit"]["description"] == "param c: 1.0 -> 2.0"
    assert [c["part"] for c in steps["evaluate"]["changes"]] == ["input"]


def test_bad_input_gets_the_one_error_shape(api, runs: Runs):
    missing = _error(api.get("/api/pipelines/runs/0123abcd"), 404, "NotFound")
    assert "0123abcd" in missing["message"] and "modelyard pipelines list" in missing["hint"]
    _error(api.get("/api/pipelines/runs/not-hex"), 400, "InvalidArgument")
    _error(api.get("/api/pipelines/runs/ab"), 400, "InvalidArgument")  # under 4 characters
    _error(api.get("/api/pipelines/runs", params={"max_results": 0}), 400, "InvalidArgument")
    _error(api.get(f"/api/pipelines/runs/{runs.first}/graph?format=png"), 400, "InvalidArgument")
    message = _error(api.get("/api/pipelines/explain", params={"run_a": runs.first}), 400,
                     "InvalidArgument")["message"]  # fmt: skip
    assert "run_b" in message
    _error(
        api.get("/api/pipelines/explain", params={"run_a": runs.first, "run_b": "feedbeef"}),
        404,
        "NotFound",
    )


def test_reads_need_a_token_and_writes_a_write_token(stores, call, runs: Runs):
    from modelyard.server.app import create_app

    app = create_app(stores[0])
    _error(call(app).get("/api/pipelines"), 401, "Unauthorized")
    reader = call(app, headers={"authorization": f"Bearer {READ}"})
    assert reader.get(f"/api/pipelines/runs/{runs.first}").status_code == 200
    for method, path in [
        ("PUT", f"/api/pipelines/runs/{runs.first}"),
        ("PUT", f"/api/pipelines/steps/{'a' * 32}"),
        ("PATCH", f"/api/pipelines/steps/{'a' * 32}"),
        ("POST", f"/api/pipelines/steps/{'a' * 32}/end"),
    ]:
        _error(reader.request(method, path, json={}), 403, "Forbidden")  # a read token only reads


def test_the_look_ups_of_a_running_pipeline(api, stores, runs: Runs):
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.store.database import Database

    store = SqlPipelineStore(Database.open(stores[0].database_url))
    row = store.get_pipeline_run(runs.first)
    fit = next(s for s in row["steps"] if s["step"] == "fit")
    cached = api.get(f"/api/pipelines/cache/{fit['cache_key']}").json()
    assert cached["entry"]["run_id"] == fit["run_id"]
    assert cached["entry"] == json_ready(store.get_cache(fit["cache_key"]))
    assert api.get(f"/api/pipelines/cache/{'0' * 64}").json()["entry"] is None
    ids = [s["run_id"] for s in row["steps"]]
    metrics = api.get("/api/pipelines/metrics", params={"run_id": ids}).json()["metrics"]
    assert metrics == store.latest_metrics(ids) and metrics  # evaluate logged its auc
    previous = api.get("/api/pipelines/previous-step", params={"pipeline": "training",
                                                                "step": "fit"}).json()  # fmt: skip
    assert previous["step_run"]["run_id"] == store.previous_step_run("training", "fit")["run_id"]
    reads = api.get(f"/api/pipelines/steps/{fit['run_id']}/reads").json()
    assert reads == {"run_id": fit["run_id"], "reads": []}
    store.db.dispose()


def json_ready(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


def test_bad_writes_get_the_one_error_shape(stores, call, runs: Runs):
    from modelyard.server.app import create_app

    writer = call(create_app(stores[0].replace(server_tokens_file="")))  # open: no tokens
    good = {"pipeline": "p", "params": {}, "graph": {"pipeline": "p", "steps": []},
            "executor": "inline"}  # fmt: skip
    _error(writer.put("/api/pipelines/runs/NOT-AN-ID", json=good), 400, "InvalidArgument")
    missing = _error(writer.put(f"/api/pipelines/runs/{'b' * 32}", json=good), 404, "NotFound")
    assert "POST /api/runs" in missing["hint"]
    bad_graph = good | {"graph": {"pipeline": "p", "steps": [{"inputs": {}}]}}
    message = _error(writer.put(f"/api/pipelines/runs/{runs.first}", json=bad_graph), 400,
                     "InvalidArgument")["message"]  # fmt: skip
    assert "graph.steps[0].name" in message
    huge = good | {"params": {"x": "y" * 1_000_001}}
    _error(writer.put(f"/api/pipelines/runs/{runs.first}", json=huge), 400, "InvalidArgument")
    patch = writer.request("PATCH", f"/api/pipelines/steps/{'c' * 32}", json={"attempts": 2})
    unknown = _error(patch, 404, "NotFound")
    assert unknown["message"] == f"there is no step run {'c' * 32}"
    end = {"status": "DONE", "attempts": 1}
    _error(writer.post(f"/api/pipelines/steps/{'c' * 32}/end", json=end), 400, "InvalidArgument")
    too_many = {"run_id": ["d" * 32] * 1001}
    _error(writer.get("/api/pipelines/metrics", params=too_many), 400, "InvalidArgument")
