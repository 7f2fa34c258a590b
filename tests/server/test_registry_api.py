"""The registry over HTTP: models, versions, aliases, history, lineage, diff and URIs.

Models are logged with the real SDK (scikit-learn models, ``log_model``, datasets) and the API
is driven in-process (httpx ASGITransport), on SQLite and, with
``MODELYARD_TEST_DATABASE_URL``, on PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from modelyard.server import registry_api

WRITE, READ = "w-" + "5" * 20, "r-" + "6" * 20


@dataclass(frozen=True)
class Logged:
    run_a: str  # C=1.0, 8 rows of data, and a second model folder "clf"
    run_b: str  # C=0.1, 10 rows of data
    plain: str  # a run without any model
    digest_a: str  # the training data of run_a


def _log(settings: Any) -> Logged:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from modelyard.models.package import log_model
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(settings)
    try:
        runs, digest = [], ""
        for c, rows in ((1.0, 8), (0.1, 10)):
            frame = pd.DataFrame(
                {"age": [20 + 5 * i for i in range(rows)], "income": [1.0 + i for i in range(rows)]}
            )
            target = [i % 2 for i in range(rows)]
            run_id = client.create_run("registry", name=f"lr-c{c}")
            info = client.log_dataset(run_id, frame, name="train", context="training")
            digest = digest or info.digest
            model = LogisticRegression(C=c).fit(frame, target)
            client.log_params(run_id, {"C": c})
            client.log_metrics(
                run_id, {"accuracy": model.score(frame, target), "auc": 0.8 + c / 10}
            )
            log_model(model, "model", input_example=frame.head(2), run_id=run_id, client=client)
            runs.append(run_id)
        log_model(model, "clf", run_id=runs[0], client=client)
        for run_id in runs:
            client.end_run(run_id)
        plain = client.create_run("registry", name="no-model")
        client.end_run(plain)
    finally:
        client.close()
    return Logged(runs[0], runs[1], plain, digest)


@pytest.fixture
def stores(project, database_url):
    """Settings on the parametrized metadata store (SQLite, or PostgreSQL), with two models."""
    settings = project(database_url=database_url)
    return settings, _log(settings)


@pytest.fixture
def api(stores, call):
    from modelyard.server.app import create_app

    return call(create_app(stores[0]))


@pytest.fixture
def logged(stores) -> Logged:
    return stores[1]


def register_both(api, logged: Logged) -> None:
    first = api.post("/api/models/churn/versions", json={"source": f"runs:/{logged.run_a}/model"})
    assert first.status_code == 201, first.text
    second = api.post(
        "/api/models/churn/versions",
        json={"run_id": logged.run_b, "artifact_path": "model", "description": "smaller C"},
    )
    assert second.status_code == 201, second.text


def check_error(response, status: int, code: str, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert body["error"]["code"] == code
    for fragment in fragments:
        assert fragment in body["error"]["message"], (fragment, body)
    return body["error"]


def test_register_list_get_and_resolve(api, logged):
    first = api.post("/api/models/churn/versions", json={"source": f"runs:/{logged.run_a}/model"})
    assert first.status_code == 201
    v1 = first.json()
    assert (v1["name"], v1["version"], v1["run_id"], v1["status"]) == (
        "churn", 1, logged.run_a, "ready"
    )  # fmt: skip
    assert v1["uri"] == "models:/churn/1" and v1["source"] == f"runs:/{logged.run_a}/model"
    assert v1["flavor"] == "sklearn" and len(v1["model_digest"]) == 64
    assert v1["params"] == {"C": "1.0"} and v1["metrics"]["auc"] == pytest.approx(0.9)
    assert [c["name"] for c in v1["signature"]["inputs"]] == ["age", "income"]
    v2 = api.post(
        "/api/models/churn/versions", json={"run_id": logged.run_b, "description": "smaller C"}
    ).json()
    assert v2["version"] == 2 and v2["description"] == "smaller C"

    models = api.get("/api/models").json()["models"]
    assert [(m["name"], m["latest_version"], m["versions"]) for m in models] == [("churn", 2, 2)]
    model = api.get("/api/models/churn").json()
    assert [v["version"] for v in model["model_versions"]] == [1, 2]
    assert model["aliases"] == {} and model["model_versions"][0] == v1
    assert api.get("/api/models/churn/versions/2").json() == v2
    listed = api.get("/api/models/churn/versions").json()["model_versions"]
    assert [v["version"] for v in listed] == [1, 2]

    latest = api.get("/api/models/resolve", params={"uri": "models:/churn/latest"}).json()
    assert (latest["run_id"], latest["artifact_path"], latest["version"]) == (
        logged.run_b, "model", 2
    )  # fmt: skip
    by_number = api.get("/api/models/resolve", params={"uri": "models:/churn/1"}).json()
    assert by_number["run_id"] == logged.run_a and by_number["name"] == "churn"
    run_uri = f"runs:/{logged.run_a}/clf"
    assert api.get("/api/models/resolve", params={"uri": run_uri}).json() == {
        "uri": run_uri, "name": None, "version": None, "run_id": logged.run_a,
        "artifact_path": "clf",
    }  # fmt: skip


def test_registering_what_is_not_a_model_says_what_exists(api, logged):
    error = check_error(
        api.post("/api/models/churn/versions", json={"source": f"runs:/{logged.run_a}/nothing"}),
        400,
        "InvalidArgument",
        f"run {logged.run_a} has no model at 'nothing'",
        "'clf'",
        "'model'",
    )
    assert "yard.register_model" in error["hint"]
    check_error(
        api.post("/api/models/churn/versions", json={"run_id": logged.plain}),
        400,
        "InvalidArgument",
        "has no model at 'model'",
    )
    check_error(
        api.post("/api/models/churn/versions", json={"run_id": "0" * 32}),
        404,
        "NotFound",
        "does not exist",
    )
    assert api.get("/api/models").json() == {"models": []}


def test_aliases_move_and_every_move_is_in_the_history(api, logged):
    register_both(api, logged)
    set1 = api.put("/api/models/churn/aliases/champion", json={"version": 1})
    assert set1.status_code == 200
    assert set1.json() | {"updated_at": 0, "updated_by": ""} == {
        "name": "churn", "alias": "champion", "version": 1, "previous_version": None,
        "updated_at": 0, "updated_by": "", "uri": "models:/churn@champion",
    }  # fmt: skip
    moved = api.put("/api/models/churn/aliases/champion", json={"version": 2}).json()
    assert (moved["version"], moved["previous_version"]) == (2, 1)
    api.put("/api/models/churn/aliases/challenger", json={"version": 1})
    assert api.get("/api/models/churn/aliases/champion").json()["version"] == 2
    assert api.get("/api/models/churn").json()["aliases"] == {"challenger": 1, "champion": 2}
    check_error(
        api.get("/api/models/churn/aliases/production"),
        404,
        "NotFound",
        "model 'churn' has no alias 'production'",
        "challenger → 1, champion → 2",
    )
    resolved = api.get("/api/models/resolve", params={"uri": "models:/churn@champion"}).json()
    assert resolved["version"] == 2 and resolved["run_id"] == logged.run_b

    deleted = api.delete("/api/models/churn/aliases/challenger").json()
    assert (deleted["version"], deleted["previous_version"]) == (None, 1)
    check_error(api.delete("/api/models/churn/aliases/challenger"), 404, "NotFound", "no alias")
    events = api.get("/api/models/churn/events").json()["events"]
    assert [e["kind"] for e in events] == [
        "registered_model.created", "model_version.created", "model_version.created",
        "alias.set", "alias.set", "alias.set", "alias.deleted",
    ]  # fmt: skip
    assert events[4]["payload"] == {"alias": "champion", "from": 1, "to": 2}
    assert all("@" in e["actor"] for e in events)
    assert len(api.get("/api/models/churn/events", params={"limit": 2}).json()["events"]) == 2


def test_archive_and_restore(api, logged):
    register_both(api, logged)
    api.put("/api/models/churn/aliases/champion", json={"version": 2})
    check_error(
        api.post("/api/models/churn/versions/2/archive"),
        409,
        "InvalidState",
        "pointed at by alias(es) 'champion'",
    )
    api.put("/api/models/churn/aliases/champion", json={"version": 1})
    archived = api.post("/api/models/churn/versions/2/archive").json()
    assert archived["status"] == "archived"
    latest = api.get("/api/models/resolve", params={"uri": "models:/churn/latest"}).json()
    assert latest["version"] == 1
    ready = api.get("/api/models/churn/versions", params={"include_archived": "false"}).json()
    assert [v["version"] for v in ready["model_versions"]] == [1]
    check_error(
        api.put("/api/models/churn/aliases/challenger", json={"version": 2}),
        409,
        "InvalidState",
        "is archived",
    )
    assert api.post("/api/models/churn/versions/2/restore").json()["status"] == "ready"
    kinds = [e["kind"] for e in api.get("/api/models/churn/events").json()["events"]]
    assert "model_version.archived" in kinds and kinds[-1] == "model_version.status"


def test_update_descriptions_and_tags(api, logged):
    register_both(api, logged)
    model = api.request(
        "PATCH",
        "/api/models/churn",
        json={"description": "churn classifier", "tags": {"team": "risk"}},
    ).json()
    assert (model["description"], model["tags"]) == ("churn classifier", {"team": "risk"})
    untagged = api.request("PATCH", "/api/models/churn", json={"tags": {"team": ""}}).json()
    assert untagged["tags"] == {} and untagged["description"] == "churn classifier"
    version = api.request(
        "PATCH", "/api/models/churn/versions/1", json={"description": "baseline"}
    ).json()
    assert version["description"] == "baseline"


def test_unknown_things_are_404_naming_what_exists(api, logged):
    register_both(api, logged)
    check_error(
        api.get("/api/models/fraud"),
        404,
        "NotFound",
        "registered model 'fraud' does not exist (there are: churn)",
    )
    error = check_error(
        api.get("/api/models/churn/versions/7"), 404, "NotFound", "has no version 7 (latest is 2)"
    )
    assert error["hint"] == "list them with: modelyard models versions churn"
    check_error(api.post("/api/models/churn/versions/9/archive"), 404, "NotFound", "latest is 2")
    check_error(
        api.put("/api/models/churn/aliases/champion", json={"version": 3}),
        404,
        "NotFound",
        "no version 3",
    )
    check_error(
        api.get("/api/models/resolve", params={"uri": "models:/fraud@champion"}),
        404,
        "NotFound",
        "there are: churn",
    )
    check_error(
        api.get("/api/models/churn/diff", params={"version_a": "1", "version_b": "champion"}),
        404,
        "NotFound",
        "has no alias 'champion' (it has no aliases)",
    )
    check_error(api.get("/api/models/fraud/events"), 404, "NotFound", "there are: churn")
    # a model may be called "resolve": GET without a URI is that model
    check_error(api.get("/api/models/resolve"), 404, "NotFound", "'resolve' does not exist")


BAD_INPUT = [  # (method, url, body, what the message names)
    ("GET", "/api/models/churn/versions/0", None, "version"),
    ("GET", "/api/models/churn/versions/99999999999", None, "version"),
    ("GET", "/api/models/churn/versions/one", None, "version"),
    ("PUT", "/api/models/churn/aliases/champion", {"version": "two"}, "version"),
    ("PUT", "/api/models/churn/aliases/champion", {"version": 1, "extra": 1}, "extra"),
    ("PUT", "/api/models/churn/aliases/9lives", {"version": 1}, "alias '9lives'"),
    ("PUT", "/api/models/churn/aliases/latest", {"version": 1}, "reserved"),
    ("POST", "/api/models/churn/versions", {}, "exactly one of 'source'"),
    ("POST", "/api/models/churn/versions", {"source": "runs:/a/b", "run_id": "a"}, "source"),
    ("POST", "/api/models/churn/versions", {"source": "s3://bucket/model"}, "not a model URI"),
    ("POST", "/api/models/bad%20name/versions", {"run_id": "a"}, "model name 'bad name'"),
    ("GET", "/api/models/resolve?uri=churn", None, "'churn' is not a model URI"),
    ("GET", "/api/models/resolve?uri=models:/churn/99999999999999999999", None, "too large"),
    ("GET", "/api/models/resolve?uri=models:/churn", None, "names no version or alias"),
    ("GET", "/api/models/churn/diff?version_a=1", None, "version_b"),
    ("GET", "/api/models/churn/diff?version_a=1&version_b=99999999999", None, "out of range"),
    ("GET", "/api/models/churn/events?limit=0", None, "limit"),
    ("GET", "/api/lineage?uri=models:/churn/1&format=png", None, "format"),
    ("GET", "/api/lineage?uri=models:/churn/1&depth=99", None, "depth"),
    ("GET", "/api/lineage/datasets/xyz123", None, "digest"),
]


def test_bad_input_is_a_400_naming_the_field(api, logged):
    register_both(api, logged)
    for method, url, body, field in BAD_INPUT:
        kwargs = {"json": body} if body is not None else {}
        check_error(api.request(method, url, **kwargs), 400, "InvalidArgument", field)


def test_lineage_as_json_svg_and_dot(api, logged):
    register_both(api, logged)
    graph = api.get("/api/lineage", params={"uri": "models:/churn/1"}).json()
    assert graph["root"] == "model_version:churn/1"
    kinds = {n["kind"] for n in graph["nodes"]}
    assert {"model_version", "run", "dataset"} <= kinds
    dataset = next(n for n in graph["nodes"] if n["kind"] == "dataset")
    assert dataset["attributes"]["digest"] == logged.digest_a
    edges = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
    assert (f"run:{logged.run_a}", "model_version:churn/1", "produced") in edges
    svg = api.get("/api/lineage", params={"uri": "models:/churn/1", "format": "svg"})
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-security-policy"] == "sandbox"
    assert svg.text.startswith("<svg") and "churn v1" in svg.text and "lr-c1.0" in svg.text
    dot = api.get("/api/lineage", params={"uri": f"runs:/{logged.run_b}/model", "format": "dot"})
    assert dot.text.startswith("digraph lineage") and f"run:{logged.run_b}" in dot.text

    used = api.get(f"/api/lineage/datasets/{logged.digest_a[:10]}").json()
    assert used["digest"] == logged.digest_a
    assert [(v["name"], v["version"]) for v in used["model_versions"]] == [("churn", 1)]
    assert [u["run_id"] for u in used["uses"]] == [logged.run_a]
    check_error(api.get("/api/lineage/datasets/abcdef0123"), 404, "NotFound", "no dataset")


def test_diff_of_two_versions(api, logged):
    register_both(api, logged)
    api.put("/api/models/churn/aliases/champion", json={"version": 2})
    diff = api.get(
        "/api/models/churn/diff", params={"version_a": "1", "version_b": "champion"}
    ).json()
    assert (diff["version_a"], diff["version_b"]) == (1, 2)
    assert (diff["run_id_a"], diff["run_id_b"]) == (logged.run_a, logged.run_b)
    assert [(p["key"], p["a"], p["b"], p["status"]) for p in diff["params"]] == [
        ("C", "1.0", "0.1", "changed")
    ]
    auc = next(m for m in diff["metrics"] if m["key"] == "auc")
    assert auc["changed"] and auc["delta"] == pytest.approx(-0.09)
    [data] = diff["data"]
    assert (data["name"], data["status"], data["rows"]) == ("train", "changed", [8, 10])
    assert diff["model"]["model_digest"][0] != diff["model"]["model_digest"][1]
    same = api.get("/api/models/churn/diff", params={"version_a": "2", "version_b": "latest"})
    assert all(not m["changed"] for m in same.json()["metrics"])


def test_read_token_may_only_read(project, database_url, call, tmp_path):
    from modelyard.server.app import create_app

    tokens = tmp_path / "tokens"
    tokens.write_text(f"{WRITE} write\n{READ} read\n")
    settings = project(database_url=database_url, server_tokens_file=str(tokens))
    logged = _log(settings)
    app = create_app(settings)
    writer = call(app, headers={"authorization": f"Bearer {WRITE}"})
    reader = call(app, headers={"authorization": f"Bearer {READ}"})
    register_both(writer, logged)
    assert writer.put("/api/models/churn/aliases/champion", json={"version": 1}).status_code == 200
    assert call(app).get("/api/models").status_code == 401
    for url in ("/api/models", "/api/models/churn", "/api/models/churn/aliases/champion",
                "/api/models/churn/events", "/api/lineage?uri=models:/churn/1",
                "/api/models/churn/diff?version_a=1&version_b=2"):  # fmt: skip
        assert reader.get(url).status_code == 200, url
    writes = [
        ("POST", "/api/models/churn/versions", {"run_id": logged.run_b}),
        ("PUT", "/api/models/churn/aliases/champion", {"version": 2}),
        ("DELETE", "/api/models/churn/aliases/champion", None),
        ("POST", "/api/models/churn/versions/2/archive", None),
        ("POST", "/api/models/churn/versions/2/restore", None),
        ("PATCH", "/api/models/churn", {"description": "x"}),
        ("PATCH", "/api/models/churn/versions/1", {"description": "x"}),
    ]
    for method, url, body in writes:
        response = reader.request(method, url, json=body)
        check_error(response, 403, "Forbidden", "needs a write token")
    model = writer.get("/api/models/churn").json()
    assert model["versions"] == 2 and model["aliases"] == {"champion": 1}
    assert model["description"] is None


def test_registry_routes_are_walked_by_the_error_shape_test(api, logged):
    """tests/server/test_errors.py walks ``app.routes``: every registry route is there; and
    bad values on a populated store give a 4xx in the one shape, never a 500."""
    register_both(api, logged)
    routes = {
        (method, route.path)
        for route in api.app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert {(m, p) for m, p, _, _ in registry_api.ROUTES} <= routes
    checked = 0
    for method, path, _, _ in registry_api.ROUTES:
        for value in ["churn", "1", "0", "9" * 25, "champion", "-1", "a b", "%2F..%2F"]:
            url = re.sub(r"\{[^}]+\}", value, path)
            for body in ({"json": {"version": "x"}}, {"content": b"{nope"}):
                kwargs = body if method in ("POST", "PUT", "PATCH") else {}
                response = api.request(method, url, params={"uri": value}, **kwargs)
                assert response.status_code < 500, (method, url, response.text[:300])
                if response.status_code >= 400:
                    check_error(response, response.status_code, response.json()["error"]["code"])
                    checked += 1
    assert checked > 150


def test_openapi_describes_every_registry_route(make_app, call):
    schema = call(make_app()).get("/api/openapi.json").json()
    for method, path, _, _ in registry_api.ROUTES:
        operation = schema["paths"][path][method.lower()]
        assert "400" in operation["responses"] and "422" not in operation["responses"], path
        assert operation["tags"] in (["models"], ["lineage"])


def test_a_repeated_request_id_answers_the_first_version_and_actors_are_recorded(api, logged):
    body = {"run_id": logged.run_a, "request_id": "req-1", "actor": "ana@laptop"}
    first = api.post("/api/models/churn/versions", json=body)
    again = api.post("/api/models/churn/versions", json=body)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert first.json()["version"] == 1 and first.json()["created_by"] == "ana@laptop"
    other = api.post("/api/models/churn/versions", json=body | {"request_id": "req-2"})
    assert other.json()["version"] == 2
    bad = api.post("/api/models/churn/versions", json=body | {"request_id": "a b"})
    check_error(bad, 400, "InvalidArgument", "request_id")
    too_long = api.put(
        "/api/models/churn/aliases/champion", json={"version": 1, "actor": "x" * 300}
    )
    check_error(too_long, 400, "InvalidArgument", "actor")
    assert (
        api.put("/api/models/churn/aliases/champion", json={"version": 1, "actor": "bo@ci"}).json()[
            "updated_by"
        ]
        == "bo@ci"
    )
    api.delete("/api/models/churn/aliases/champion", json={"actor": "cy@desk"})
    api.post("/api/models/churn/versions/2/archive")  # the body is optional
    api.post("/api/models/churn/versions/2/restore", json={"actor": "di@desk"})
    events = api.get("/api/models/churn/events").json()["events"]
    created = [e for e in events if e["kind"] == "model_version.created"]
    assert [e["payload"]["request_id"] for e in created] == ["req-1", "req-2"]
    assert [e["actor"] for e in events][-4:] == ["bo@ci", "cy@desk", events[-2]["actor"], "di@desk"]
    assert "@" in events[-2]["actor"] and events[-2]["kind"] == "model_version.archived"
    resolved = api.get("/api/models/resolve", params={"uri": "models:/churn/1"}).json()
    assert resolved["model_version"] == api.get("/api/models/churn/versions/1").json()
