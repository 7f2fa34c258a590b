"""Every error over HTTP has one shape: ``{"error": {"code", "message", "hint"}, "status"}``.

Like datasette's test_error_shape: walk every route the app has (the API's and any the web UI
added) with bad input and check that no call is a 500 and every API error has the shape.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

BAD_VALUES = ["zzz", "0" * 32, "9" * 25, "../../etc/passwd", "-1", "%00"]
BAD_BODIES = [
    {"json": {"unexpected": True}},
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"json": [1, 2, 3]},
    {"content": b"\xff\xfe", "headers": {"content-type": "application/octet-stream"}},
]


def routes(app):
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, route.path


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def check_shape(response, where: str) -> None:
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    assert set(body) == {"error", "status"}, (where, body)
    assert body["status"] == response.status_code, where
    error = body["error"]
    assert set(error) <= {"code", "message", "hint"}, where
    assert isinstance(error["code"], str) and error["code"], where
    assert isinstance(error["message"], str) and error["message"], where
    assert "Traceback" not in error["message"], where


def walk(app, call, api_routes: bool):
    """Call every route (API or not) with bad input; return (where, response) pairs."""
    api = call(app)
    for method, path in routes(app):
        is_api = path.startswith("/api") or path in ("/health", "/login", "/logout")
        if is_api != api_routes:
            continue
        for value in BAD_VALUES:
            for body in BAD_BODIES if method in ("POST", "PUT", "PATCH", "DELETE") else [{}]:
                response = api.request(method, fill(path, value), params={"key": value}, **body)
                yield f"{method} {fill(path, value)} {body}: {response.status_code}", response


def test_every_api_route_answers_bad_input_in_the_error_shape(make_app, call):
    app = make_app()
    checked = 0
    for where, response in walk(app, call, api_routes=True):
        assert response.status_code < 500, (where, response.text[:500])
        if response.status_code >= 400 and response.request.method != "HEAD":
            if response.request.url.path in ("/login", "/logout"):
                continue
            check_shape(response, where)
            checked += 1
    assert checked > 100


def test_web_ui_routes_never_answer_bad_input_with_a_500(make_app, call):
    failures = [
        (where, response.text[:200])
        for where, response in walk(make_app(), call, api_routes=False)
        if response.status_code >= 500
    ]
    assert failures == []


def test_unknown_routes_and_methods(make_app, call):
    api = call(make_app())
    missing = api.get("/api/nothing-here")
    assert missing.status_code == 404
    check_shape(missing, "unknown route")
    assert missing.json()["error"]["code"] == "NotFound"
    wrong_method = api.request("PATCH", "/api/experiments")
    assert wrong_method.status_code == 405
    check_shape(wrong_method, "405")


def test_validation_error_names_the_field(make_app, call):
    api = call(make_app())
    response = api.post("/api/metrics", json={"points": [{"run_id": "r", "key": "k"}]})
    assert response.status_code == 400
    check_shape(response, "validation")
    error = response.json()["error"]
    assert error["code"] == "InvalidArgument"
    assert "'points[0].value'" in error["message"] and "required" in error["message"]
    huge = api.post("/api/experiments", json={"name": "x" * 300})
    assert huge.status_code == 400 and "'name'" in huge.json()["error"]["message"]


def test_unexpected_exception_is_a_500_with_a_request_id(make_app, call, caplog):
    app = make_app()

    def boom() -> None:
        raise RuntimeError("secret detail")

    app.add_api_route("/api/boom", boom, methods=["GET"])
    with caplog.at_level(logging.ERROR, logger="modelyard.server"):
        response = call(app).get("/api/boom")
    assert response.status_code == 500
    check_shape(response, "500")
    error = response.json()["error"]
    request_id = response.headers["x-request-id"]
    assert error == {
        "code": "InternalError",
        "message": f"internal error (request id {request_id})",
        "hint": error["hint"],
    }
    assert "secret detail" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


def test_database_failure_is_a_503_store_error(make_app, call, tmp_path: Path):
    app = make_app()
    api = call(app)
    assert api.get("/api/experiments").status_code == 200
    app.state.store.db.dispose()
    shutil.rmtree(tmp_path / "store")
    response = api.get("/api/experiments")
    assert response.status_code == 503
    check_shape(response, "503")
    assert response.json()["error"]["code"] == "StoreError"
    health = api.get("/health")
    assert health.status_code == 503 and health.json()["database"] != "ok"


@pytest.mark.parametrize("query", ["%00", "a%00b"])
def test_nul_in_the_url_is_refused(make_app, call, query):
    response = call(make_app()).get(f"/api/runs/find?prefix={query}")
    assert response.status_code == 400
    check_shape(response, "nul")
