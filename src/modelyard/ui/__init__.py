"""The web UI: server-rendered pages for experiments, runs, comparisons and datasets.

:func:`mount_ui` adds to a FastAPI app the pages (``/``, ``/experiments/{experiment_id}``,
``/runs/{run_id}``, ``/compare``), the artifact file route, the JSON endpoints the charts fetch
(``/ui/data/...``) and the static files: our CSS and JavaScript, and Plotly.js served from the
installed ``plotly`` package, so every page works offline. The handlers read
``app.state.store`` (a ``SqlTrackingStore``), ``app.state.artifacts`` (an ``ArtifactStore``)
and ``app.state.settings``. Importing this package is light: FastAPI and Jinja2 load when the
UI is mounted. See ``docs/ui.md``.

>>> from fastapi import FastAPI
>>> app = FastAPI()
>>> mount_ui(app)
>>> any(getattr(r, "path", "") == "/runs/{run_id}" for r in app.routes)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI) -> None:
    """Add the UI pages, data endpoints and static files to ``app`` (none are in OpenAPI)."""
    from modelyard.ui.routes import add_routes

    add_routes(app)
