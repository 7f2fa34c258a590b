"""The REST API in-process: every tracking operation, idempotent retries, NaN in JSON."""

from __future__ import annotations

import json
import math
import uuid

import pytest

from modelyard._digest import digest_bytes


@pytest.fixture
def api(make_app, call):
    return call(make_app())


def new_run(api, experiment="exp", **extra):
    exp = api.get("/api/experiments/by-name", params={"name": experiment})
    if exp.status_code == 404:
        exp = api.post("/api/experiments", json={"name": experiment})
    body = {
        "run_id": uuid.uuid4().hex,
        "experiment_id": exp.json()["experiment_id"],
        "name": "r",
        "start_time": 1_700_000_000_000,
        **extra,
    }
    response = api.post("/api/runs", json=body)
    assert response.status_code == 201, response.text
    return body


def test_health_and_openapi(api):
    health = api.get("/health").json()
    assert health == {"status": "ok", "version": health["version"], "database": "ok"}
    schema = api.get("/api/openapi.json").json()
    assert "/api/metrics" in schema["paths"] and "/api/blobs/{digest}" in schema["paths"]
    assert "Error" in schema["components"]["schemas"]
    responses = schema["paths"]["/api/metrics"]["post"]["responses"]
    assert "400" in responses and "422" not in responses


def test_experiments(api):
    created = api.post("/api/experiments", json={"name": "churn", "description": "d"})
    assert created.status_code == 201
    exp = created.json()
    assert api.get(f"/api/experiments/{exp['experiment_id']}").json() == exp
    assert api.get("/api/experiments/by-name", params={"name": "churn"}).json() == exp
    again = api.post("/api/experiments", json={"name": "churn"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "AlreadyExists"
    missing = api.get("/api/experiments/by-name", params={"name": "nope"})
    assert missing.status_code == 404
    new_run(api, "churn")
    listed = api.get("/api/experiments").json()["experiments"]
    assert [(e["name"], e["run_count"]) for e in listed] == [("churn", 1)]


def test_create_run_is_idempotent(api):
    body = new_run(api)
    assert api.post("/api/runs", json=body).status_code == 200  # a retry: same content
    other = api.post("/api/runs", json={**body, "name": "another"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "AlreadyExists"
    unknown_exp = api.post(
        "/api/runs", json={**body, "run_id": uuid.uuid4().hex, "experiment_id": 99}
    )
    assert unknown_exp.status_code == 404
    bad_id = api.post("/api/runs", json={**body, "run_id": "../../x"})
    assert bad_id.status_code == 400 and "run_id" in bad_id.json()["error"]["message"]


def test_params_tags_end_and_delete(api):
    run = new_run(api, tags={"team": "risk"})
    rid = run["run_id"]
    assert api.post(f"/api/runs/{rid}/params", json={"params": {"lr": "0.1"}}).status_code == 200
    assert api.post(f"/api/runs/{rid}/params", json={"params": {"lr": "0.1"}}).status_code == 200
    changed = api.post(f"/api/runs/{rid}/params", json={"params": {"lr": "0.2"}})
    assert changed.status_code == 400 and "immutable" in changed.json()["error"]["message"]
    bad_key = api.post(f"/api/runs/{rid}/tags", json={"tags": {"a;b": "x"}})
    assert bad_key.status_code == 400 and "'a;b'" in bad_key.json()["error"]["message"]
    api.post(f"/api/runs/{rid}/tags", json={"tags": {"stage": "dev", "x": "1"}})
    assert api.delete(f"/api/runs/{rid}/tags", params={"key": "x"}).status_code == 200
    busy = api.delete(f"/api/runs/{rid}")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "InvalidState"
    end = {"status": "FAILED", "end_time": 1_700_000_001_000, "error": "boom"}
    for _ in range(2):  # ending twice with the same body is harmless
        assert api.post(f"/api/runs/{rid}/end", json=end).status_code == 200
    got = api.get(f"/api/runs/{rid}").json()
    assert got["status"] == "FAILED" and got["end_time"] == 1_700_000_001_000
    assert got["params"] == {"lr": "0.1"} and got["tags"] == {"team": "risk", "stage": "dev"}
    running = api.post(f"/api/runs/{rid}/end", json={"status": "RUNNING"})
    assert running.status_code == 400
    assert api.delete(f"/api/runs/{rid}").status_code == 200


def test_metric_batches_are_written_once_and_keep_nan(api):
    rid = new_run(api)["run_id"]
    values = [0.5, "NaN", "Infinity", "-Infinity", 1e308, -0.0]
    points = [
        {"run_id": rid, "key": "loss", "value": v, "timestamp": 1000 + i, "step": i}
        for i, v in enumerate(values)
    ]
    body = {"batch_id": "b-1", "points": points}
    assert api.post("/api/metrics", json=body).json() == {"written": 6}
    assert api.post("/api/metrics", json=body).json() == {"written": 0}
    history = api.get(f"/api/runs/{rid}/metrics", params={"key": "loss"}).json()["metrics"]
    assert [m["value"] for m in history] == values
    run = api.get(f"/api/runs/{rid}").json()
    assert run["metrics"] == {"loss": -0.0}
    raw = api.get(f"/api/runs/{rid}/metrics", params={"key": "loss"}).text
    json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c}"))
    unknown = api.post("/api/metrics", json={"points": [{**points[0], "run_id": "f" * 32}]})
    assert unknown.status_code == 404


def test_search_by_get_and_post(api):
    rid = new_run(api)["run_id"]
    exp_id = api.get(f"/api/runs/{rid}").json()["experiment_id"]
    api.post("/api/metrics", json={"points": [
        {"run_id": rid, "key": "auc", "value": 0.9, "timestamp": 1, "step": 0}
    ]})  # fmt: skip
    found = api.get(
        "/api/runs", params={"experiment_id": exp_id, "filter": "metrics.auc > 0.5"}
    ).json()
    assert [r["run_id"] for r in found["runs"]] == [rid] and found["next_page_token"] is None
    posted = api.post(
        "/api/runs/search", json={"experiment_ids": [exp_id], "filter": "metrics.auc < 0.5"}
    ).json()
    assert posted["runs"] == []
    bad = api.post("/api/runs/search", json={"experiment_ids": [exp_id], "filter": "x >> 1"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidArgument"
    assert api.get("/api/runs/find", params={"prefix": rid[:6]}).json() == {"run_ids": [rid]}


def test_blobs_and_artifacts(api):
    rid = new_run(api)["run_id"]
    data = b"weights" * 1000
    digest = digest_bytes(data)
    record = {"path": "model/w.bin", "digest": digest, "size": len(data)}
    early = api.post(f"/api/runs/{rid}/artifacts", json=record)
    assert early.status_code == 400 and "upload the bytes first" in early.json()["error"]["hint"]
    assert api.request("HEAD", f"/api/blobs/{digest}").status_code == 404
    wrong = api.put(f"/api/blobs/{digest_bytes(b'other')}", content=data)
    assert wrong.status_code == 400 and "hash to" in wrong.json()["error"]["message"]
    assert api.request("HEAD", f"/api/blobs/{digest_bytes(b'other')}").status_code == 404
    assert api.put(f"/api/blobs/{digest}", content=data).json() == {"digest": digest, "size": 7000}
    head = api.request("HEAD", f"/api/blobs/{digest}")
    assert head.status_code == 200 and head.headers["content-length"] == "7000"
    assert api.get(f"/api/blobs/{digest}").content == data
    assert api.post(f"/api/runs/{rid}/artifacts", json=record).status_code == 200
    wrong_size = api.post(f"/api/runs/{rid}/artifacts", json={**record, "size": 1})
    assert wrong_size.status_code == 400
    listed = api.get(f"/api/runs/{rid}/artifacts", params={"prefix": "model"}).json()
    assert [a["path"] for a in listed["artifacts"]] == ["model/w.bin"]
    one = api.get(f"/api/runs/{rid}/artifacts", params={"path": "model/w.bin"}).json()
    assert one["artifacts"][0]["digest"] == digest
    content = api.get(f"/api/runs/{rid}/artifacts/model/w.bin")
    assert content.content == data
    assert content.headers["content-security-policy"] == "sandbox"
    assert content.headers["x-content-type-options"] == "nosniff"
    missing = api.get(f"/api/runs/{rid}/artifacts/model/nope.bin")
    assert missing.status_code == 404 and "no artifact" in missing.json()["error"]["message"]


def test_datasets_heartbeat_and_dead_runs(api):
    run = new_run(api, host="box", pid=4242)
    rid = run["run_id"]
    info = {
        "digest": "a" * 64,
        "kind": "dataframe",
        "rows": 3,
        "columns": 1,
        "size_bytes": 24,
        "schema": [{"name": "x", "type": "double", "nullable": False}],
        "profile": {"columns": {}},
        "manifest": None,
        "source": None,
    }
    body = {"name": "train", "context": "training", "info": info}
    assert api.post(f"/api/runs/{rid}/datasets", json=body).status_code == 200
    inputs = api.get(f"/api/runs/{rid}").json()["inputs"]
    assert inputs[0]["digest"] == "a" * 64 and inputs[0]["schema"][0]["name"] == "x"
    assert api.post("/api/runs/heartbeat", json={"run_ids": [rid], "ts": 5}).status_code == 200
    assert api.get("/api/runs/running-pids", params={"host": "box"}).json() == {"pids": [4242]}
    killed = api.post("/api/runs/mark-dead", json={"host": "box", "pids": [4242]}).json()
    assert killed == {"run_ids": [rid]}
    assert api.get(f"/api/runs/{rid}").json()["status"] == "KILLED"


def test_nan_travels_as_strings_not_tokens():
    from modelyard.server.responses import JSONBody, decode_float, encode_float

    for value in (math.nan, math.inf, -math.inf, 0.25):
        back = decode_float(json.loads(json.dumps(encode_float(value))))
        assert (math.isnan(back) and math.isnan(value)) or back == value
    body = JSONBody({"code": {"x": [math.nan]}}).body
    assert body == b'{"code":{"x":["NaN"]}}'
