"""Artifact paths cannot escape the store: ``../``, absolute and encoded variants are 400.

The requests are written byte for byte on a socket, so no client library normalizes the path
before the server sees it.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import pytest

TRAVERSALS = [
    "../../../../etc/passwd",
    "notes/../../../../etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "%25252e%25252e%25252fetc%25252fpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "..\\..\\..\\etc\\passwd",
    "..%5c..%5c..%5cetc%5cpasswd",
    "%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/etc/passwd",  # fullwidth dots (NFKC: "..")
    "C:%5cWindows%5cwin.ini",
    "~/.ssh/id_rsa",
]


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written; return (status, body)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture(scope="module")
def logged_run(live):
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(live.settings)
    run_id = client.create_run("traversal")
    client.log_text(run_id, "secret-free notes", "notes/readme.txt")
    client.end_run(run_id)
    client.close()
    return run_id


def test_a_real_artifact_is_served(live, logged_run):
    status, body = raw_get(live.url, f"/api/runs/{logged_run}/artifacts/notes/readme.txt")
    assert (status, body) == (200, b"secret-free notes")


@pytest.mark.parametrize("attack", TRAVERSALS)
def test_artifact_content_refuses_traversal(live, logged_run, attack):
    status, body = raw_get(live.url, f"/api/runs/{logged_run}/artifacts/{attack}")
    assert status == 400, body
    assert b"root:" not in body and b'"code":"InvalidArgument"' in body


@pytest.mark.parametrize("attack", TRAVERSALS[:8])
def test_artifact_lookup_and_record_refuse_traversal(live, logged_run, attack):
    import httpx

    status, body = raw_get(live.url, f"/api/runs/{logged_run}/artifacts?path={attack}")
    assert status == 400, body
    record = {"path": attack.replace("%2f", "/"), "digest": "0" * 64, "size": 1}
    response = httpx.post(f"{live.url}/api/runs/{logged_run}/artifacts", json=record)
    assert response.status_code == 400


@pytest.mark.parametrize("attack", ["..%2f..%2fetc%2fpasswd", "%2e%2e", "../" * 3 + "x"])
def test_blob_digest_cannot_name_a_path(live, attack):
    status, body = raw_get(live.url, f"/api/blobs/{attack}")
    assert status in (400, 404), body
    assert b"root:" not in body


def test_no_path_parameter_of_any_route_serves_a_file_outside(live, logged_run):
    """Every route with a ``{...:path}`` parameter, the web UI's included, refuses escapes."""
    from fastapi.routing import APIRoute

    from modelyard.server.app import create_app

    app = create_app(live.server_settings)
    checked = 0
    for route in app.routes:
        if not isinstance(route, APIRoute) or ":path}" not in route.path:
            continue
        for attack in TRAVERSALS:
            target = re.sub(r"\{run_id\}", logged_run, route.path)
            target = re.sub(r"\{[^}]+:path\}", lambda _, a=attack: a, target)
            target = re.sub(r"\{[^}]+\}", "1", target)
            status, body = raw_get(live.url, target)
            assert status in (400, 404), (target, status, body[:200])
            assert b"root:" not in body and b"[fonts]" not in body
            checked += 1
    assert checked >= len(TRAVERSALS)
    app.state.store.db.dispose()
