"""Tokens: with them on, no page and no API call gives data without a valid token."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from fastapi.routing import APIRoute

from modelyard.errors import ConfigError, Unauthorized
from modelyard.server.auth import COOKIE, read_tokens_file

WRITE, READ = "w-" + "7" * 20, "r-" + "3" * 20


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text(f"# team tokens\n{WRITE} write\n{READ}   read  # the dashboard\n\n")
    return path


@pytest.fixture
def secured(make_app, tokens_file):
    return make_app(server_tokens_file=str(tokens_file))


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_no_route_answers_without_a_token(secured, call):
    anonymous = call(secured)
    wrong = call(secured, headers=bearer("not-a-token"))
    walked = 0
    for route in secured.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            url = sample_path(route.path)
            if url in ("/health", "/login", "/logout"):
                continue
            for client in (anonymous, wrong):
                response = client.request(method, url, headers={"accept": "text/html"})
                assert response.status_code in (401, 303), f"{method} {url}"
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/login?next=")
                    assert not path_is_api(url)
                response = client.request(method, url)
                assert response.status_code == 401, f"{method} {url}"
                if method != "HEAD":
                    assert response.json()["error"]["code"] == "Unauthorized"
                    assert response.headers["www-authenticate"] == "Bearer"
                walked += 1
    assert walked > 50


def path_is_api(url: str) -> bool:
    return url.startswith("/api")


def test_health_and_login_stay_open(secured, call):
    anonymous = call(secured)
    assert anonymous.get("/health").json()["status"] == "ok"
    page = anonymous.get("/login", params={"next": "/runs/abc"})
    assert page.status_code == 200 and 'name="token"' in page.text
    assert 'value="/runs/abc"' in page.text


def test_write_token_reads_and_writes(secured, call):
    api = call(secured, headers=bearer(WRITE))
    assert api.post("/api/experiments", json={"name": "e"}).status_code == 201
    assert api.get("/api/experiments").status_code == 200


def test_read_token_may_only_read(secured, call):
    call(secured, headers=bearer(WRITE)).post("/api/experiments", json={"name": "e"})
    reader = call(secured, headers=bearer(READ))
    assert [e["name"] for e in reader.get("/api/experiments").json()["experiments"]] == ["e"]
    for method, url in [
        ("POST", "/api/experiments"),
        ("POST", "/api/metrics"),
        ("PUT", f"/api/blobs/{'0' * 64}"),
        ("DELETE", f"/api/runs/{uuid.uuid4().hex}"),
    ]:
        response = reader.request(method, url, json={"name": "x"})
        assert response.status_code == 403, (method, url)
        assert response.json()["error"]["code"] == "Forbidden"


def test_single_server_token_is_read_write(make_app, call):
    app = make_app(server_token="only-one")
    assert call(app).get("/api/experiments").status_code == 401
    api = call(app, headers=bearer("only-one"))
    assert api.post("/api/experiments", json={"name": "e"}).status_code == 201


def test_login_sets_a_cookie_that_opens_pages(secured, call):
    anonymous = call(secured)
    bad = anonymous.post("/login", data={"token": "nope", "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.text
    good = anonymous.post("/login", data={"token": READ, "next": "//evil.example/x"})
    assert good.status_code == 303 and good.headers["location"] == "/"  # no open redirect
    cookie = good.headers["set-cookie"]
    assert f"{COOKIE}={READ}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    with_cookie = call(secured, headers={"cookie": f"{COOKIE}={READ}"})
    assert with_cookie.get("/api/experiments").status_code == 200
    assert with_cookie.post("/api/experiments", json={"name": "x"}).status_code == 403
    out = anonymous.get("/logout")
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_tokens_off_means_open(make_app, call):
    api = call(make_app())
    assert api.get("/api/experiments").status_code == 200
    assert api.get("/login").status_code == 303  # nothing to sign in to


def test_tokens_file_is_reread_when_it_changes(secured, call, tokens_file):
    newcomer = "n-" + "5" * 20
    assert call(secured, headers=bearer(newcomer)).get("/api/experiments").status_code == 401
    time.sleep(1.05)  # the file is checked at most once a second
    tokens_file.write_text(f"{newcomer} read\n")
    assert call(secured, headers=bearer(newcomer)).get("/api/experiments").status_code == 200
    assert call(secured, headers=bearer(WRITE)).get("/api/experiments").status_code == 401


@pytest.mark.parametrize(
    ("text", "match"),
    [("tok\n", "line 1"), ("a write\nb admin\n", r"line 2.*'admin'"), ("a b c\n", "3 word")],
)
def test_bad_tokens_file_is_a_config_error(tmp_path, text, match):
    path = tmp_path / "tokens.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        read_tokens_file(str(path))
    assert "read|write" in str(info.value) or "write" in info.value.hint


def test_missing_tokens_file_stops_the_server(make_app, tmp_path):
    with pytest.raises(ConfigError, match="cannot read the server tokens file"):
        make_app(server_tokens_file=str(tmp_path / "missing.txt"))


def test_sdk_sends_its_token(project):
    from modelyard.server.runner import ThreadedServer
    from modelyard.tracking.client import TrackingClient

    settings = project(server_token=WRITE)
    with ThreadedServer(settings) as server:
        remote = settings.replace(tracking_uri=server.url, server_token="")
        anonymous = TrackingClient(remote)
        with pytest.raises(Unauthorized, match="needs a token") as info:
            anonymous.list_experiments()
        assert "MODELYARD_TOKEN" in info.value.hint
        client = TrackingClient(remote.replace(token=WRITE))
        run_id = client.create_run("secured")
        client.end_run(run_id)
        assert client.get_run(run_id).status == "FINISHED"
        client.close()
        anonymous.close()
