"""``modelyard server``: the HTTP API (FastAPI on uvicorn) and the web UI of a shared Modelyard.

:func:`create_app` builds the ASGI app over the metadata and artifact stores named by the
settings; :func:`serve` runs it (``modelyard server`` calls it); :class:`ThreadedServer` runs
it in a background thread, for tests and notebooks. The SDK's remote mode, which talks to this
server, lives in :mod:`modelyard.tracking.remote` (domain code never imports this package).
See ``docs/server.md``.

>>> from modelyard.settings import Settings
>>> app = create_app(Settings.load(database_url="sqlite://", artifact_url="/tmp/yard-doc"))
>>> sorted(r.path for r in app.routes if r.path.startswith("/api/experiments"))[:2]
['/api/experiments', '/api/experiments']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.server.app import create_app
    from modelyard.server.runner import ThreadedServer, serve

__all__ = ["ThreadedServer", "create_app", "serve"]


def __getattr__(name: str) -> Any:  # FastAPI and uvicorn load on first use
    if name == "create_app":
        from modelyard.server.app import create_app

        return create_app
    if name in ("ThreadedServer", "serve"):
        from modelyard.server import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'modelyard.server' has no attribute {name!r}")
