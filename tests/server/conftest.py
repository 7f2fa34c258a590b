"""Fixtures for the server tests: the app in-process, a real server in a thread, and one in a
subprocess that can really be killed.

- ``make_app(**settings)`` builds the app over a fresh SQLite store in ``tmp_path``;
  ``call(app)`` drives it in-process (httpx ASGITransport, no socket).
- ``live`` is one uvicorn server on 127.0.0.1 (port 0) in a thread for the session, over a
  SQLite store in a temporary folder; ``live.settings`` points the SDK at it.
- ``spawn_server(settings, port)`` runs ``python -m modelyard server`` as a child process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def project_settings(root: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    from modelyard.settings import Settings

    values: dict[str, Any] = {
        "project_root": str(root),
        "database_url": f"sqlite:///{root / 'store' / 'modelyard.db'}",
        "artifact_url": str(root / "artifacts"),
        "flush_interval": 0.05,
        "capture_code": False,
        "capture_environment": False,
    }
    values.update(overrides)
    return Settings.load(**values)


@pytest.fixture(scope="session")
def project_at() -> Callable[..., Any]:
    """``project_at(folder, **settings)``: Settings of a project in ``folder``."""
    return project_settings


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Any]:
    """``project(**settings)``: Settings of a project in ``tmp_path`` (SQLite, local artifacts)."""
    return lambda **overrides: project_settings(tmp_path, **overrides)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Any]:
    """``make_app(**settings)``: the server app over a fresh SQLite store in ``tmp_path``."""
    from modelyard.server.app import create_app

    def make(**overrides: Any) -> Any:
        return create_app(project_settings(tmp_path, **overrides))

    return make


class AppClient:
    """A synchronous HTTP client of an ASGI app in this process (httpx ASGITransport)."""

    def __init__(self, app: Any, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = headers or {}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        import anyio

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=self.headers
            ) as client:
                response = await client.request(method, url, **kwargs)
                await response.aread()
                return response

        return anyio.run(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def call() -> Callable[..., AppClient]:
    """``call(app, headers=None)``: a synchronous HTTP client driving ``app`` in-process."""
    return AppClient


@dataclass
class Live:
    url: str
    settings: Any  # SDK settings: tracking_uri points at the server
    server_settings: Any


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server in a thread for the whole session, over SQLite in a temporary folder."""
    from modelyard.server.runner import ThreadedServer

    root = tmp_path_factory.mktemp("live")
    settings = project_settings(root)
    with ThreadedServer(settings) as server:
        yield Live(server.url, settings.replace(tracking_uri=server.url), settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m modelyard server`` in a child process on a fixed port."""

    def __init__(self, settings: Any, port: int, log: Path, extra_env: dict[str, str]) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.extra_env = extra_env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        env.update(self.extra_env)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        env["MODELYARD_PROJECT_ROOT"] = self.settings.project_root
        env["MODELYARD_DATABASE_URL"] = self.settings.database_url
        env["MODELYARD_ARTIFACT_URL"] = self.settings.artifact_url
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelyard", "server", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def spawn_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``spawn_server(settings, port=None, **env)``: a started subprocess server (stopped after)."""
    started: list[ServerProcess] = []

    def spawn(settings: Any, port: int | None = None, **env: str) -> ServerProcess:
        server = ServerProcess(
            settings, port or free_port(), tmp_path / f"server-{len(started)}.log", env
        )
        started.append(server)
        return server.start()

    yield spawn
    for server in started:
        server.stop()
