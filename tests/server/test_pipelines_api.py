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


def test_the_routes_are_read_only_and_need_a_token(stores, call, runs: Runs):
    from modelyard.server.app import create_app

    app = create_app(stores[0])
    _error(call(app).get("/api/pipelines"), 401, "Unauthorized")
    reader = call(app, headers={"authorization": f"Bearer {READ}"})
    assert reader.get(f"/api/pipelines/runs/{runs.first}").status_code == 200
    _error(reader.post("/api/pipelines/runs"), 403, "Forbidden")  # a read token only reads
