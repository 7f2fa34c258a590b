"""Running the app: in the foreground on uvicorn (``modelyard server``), or in a thread.

:func:`serve` binds the socket itself (so ``port=0`` works and the real address is known
before the first request), then runs uvicorn with one worker process by default. One process
with a thread pool serves a tracking workload best: SQLite wants one writer anyway, and the
connection pool stays warm. ``workers > 1`` runs that many processes on the shared socket.
Accepted sockets get ``TCP_NODELAY`` (asyncio sets it on every TCP transport), so small
answers leave at once instead of waiting for a delayed ACK.

:class:`ThreadedServer` runs the same app in a background thread of this process: for tests
and notebooks::

    with ThreadedServer(settings) as server:
        print(server.url)          # http://127.0.0.1:<free port>
"""

from __future__ import annotations

import os
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from modelyard.settings import Settings

__all__ = ["ThreadedServer", "bind", "serve"]

#: Largest request line plus headers (the longest query the API allows, percent-encoded, fits).
_MAX_HEAD = 128 * 1024


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio turns TCP_NODELAY on for accepted sockets only when it does
    # (a socket made with proto 0 leaves Nagle on, and each small answer then waits ~40 ms
    # for the client's delayed ACK). Linux also copies TCP_NODELAY from the listening socket.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another port with --port (or MODELYARD_SERVER_PORT), or stop the "
            "process using this one",
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _config(app: Any, access_log: bool, log_level: str = "info", **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        access_log=access_log,
        log_level=log_level,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=_MAX_HEAD,
        **extra,
    )


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 5050,
    *,
    workers: int = 1,
    access_log: bool = False,
    on_ready: Any = None,
) -> None:
    """Serve the API and UI until SIGINT/SIGTERM; ``on_ready(url)`` is called once bound."""
    import uvicorn

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}", hint="e.g. --workers 1")
    sock = bind(host, port)
    url = url_of(sock)
    if workers == 1:
        from modelyard.server.app import create_app

        app = create_app(settings)
        if on_ready is not None:
            on_ready(url)
        server = uvicorn.Server(_config(app, access_log))
        server.run(sockets=[sock])
        return
    # Several processes: each builds its app from the environment (the settings travel there).
    for field in type(settings).fields():
        value = getattr(settings, field.name)
        os.environ[type(settings).env_name(field.name)] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    os.environ.pop(type(settings).env_name("tracking_uri"), None)
    if on_ready is not None:
        on_ready(url)
    config = _config(
        "modelyard.server.app:create_app_from_environment",
        access_log,
        factory=True,
        workers=workers,
    )
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[sock]).run()


class ThreadedServer:
    """The app served by uvicorn in a daemon thread on ``host`` (a free port by default)."""

    def __init__(
        self,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app: FastAPI | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.app = app
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedServer:
        import uvicorn

        if self.app is None:
            from modelyard.server.app import create_app

            if self.settings is None:
                raise ConfigError("ThreadedServer needs settings or an app")
            self.app = create_app(self.settings)
        sock = bind(self.host, self.port)
        self.url = url_of(sock)
        self.port = sock.getsockname()[1]
        config = _config(self.app, False, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        server = self._server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            finally:
                ready.set()
                sock.close()

        self._thread = threading.Thread(target=run, name="modelyard-server", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            ready.wait(0.005)
        if not server.started:
            raise ConfigError(f"the server on {self.url} did not start; see the log above")
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
