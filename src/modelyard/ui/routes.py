"""Where the UI lives in the URL space, and how its errors are answered.

:func:`add_routes` is what :func:`modelyard.ui.mount_ui` calls. Pages answer a
:class:`~modelyard.errors.ModelyardError` with the HTML error page (a bad run id is a 404 page
with a link back); the ``/ui/data/`` endpoints answer with the one JSON error shape. Every route
is added with ``include_in_schema=False``: the OpenAPI schema describes the REST API only.
``app.state.render_error(request, exc)`` is set to the error page, so the server's own error
handlers can answer a browser with HTML too.

====================================  ======================================================
``GET /``                             experiments
``GET /experiments/{experiment_id}``  runs table (``filter``, ``order_by``, ``columns``,
                                      ``page_token``)
``GET /runs/{run_id}``                a run (``x=step|time``, ``artifact=<path>``)
``GET /runs/{run_id}/artifacts/{p}``  an artifact's bytes (``download=1``: as attachment)
``GET /compare``                      2 to 10 runs side by side (``runs=A,B,...``)
``GET /models``                       registered models (see :mod:`modelyard.ui.registry_pages`)
``GET /models/{name}``                a model: versions, metrics across versions, aliases
``GET /models/{name}/versions/{v}``   a version: signature, files, lineage (``diff=N``)
``GET /models/{name}/aliases/{a}``    redirects to the version the alias points at
``GET /pipelines``                    pipelines and their newest runs (see
                                      :mod:`modelyard.ui.pipeline_pages`)
``GET /pipelines/{name}``             a pipeline: its DAG, its runs, explain two runs
``GET /pipelines/runs/{run_id}``      a pipeline run: DAG, steps, cache hits (``explain=RUN``)
``GET /ui/data/...``                  chart data (see :mod:`modelyard.ui.data`)
``GET /static/{name}``                our CSS and JS; ``vendor/plotly.min.js``
====================================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from modelyard.errors import ModelyardError
from modelyard.ui.assets import CACHE_CONTROL, PLOTLY_NAME, Assets, load_assets
from modelyard.ui.data import compare_metric, run_metric
from modelyard.ui.pages import Pages
from modelyard.ui.pipeline_pages import PipelinePages
from modelyard.ui.registry_pages import RegistryPages
from modelyard.ui.render import Renderer

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["add_routes"]

Handler = Callable[[Request], Response]


def _html_errors(handler: Handler, renderer: Renderer) -> Handler:
    def endpoint(request: Request) -> Response:
        try:
            return handler(request)
        except ModelyardError as exc:
            return renderer.error(request, exc)

    endpoint.__name__ = f"ui_{handler.__name__}"
    return endpoint


def _json_errors(handler: Handler) -> Handler:
    def endpoint(request: Request) -> Response:
        try:
            return handler(request)
        except ModelyardError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.status)

    endpoint.__name__ = f"ui_data_{handler.__name__}"
    return endpoint


def _static(assets: Assets) -> Handler:
    def static_file(request: Request) -> Response:
        name = str(request.path_params["path"])
        path = assets.files.get(name)
        if path is None:
            message = f"no static file {name!r}"
            if name == PLOTLY_NAME:
                message = "Plotly.js is not installed; charts need: pip install plotly"
            return PlainTextResponse(message, status_code=404)
        return FileResponse(
            path,
            media_type=assets.media_type(path),
            headers={"Cache-Control": CACHE_CONTROL},
        )

    return static_file


def add_routes(app: FastAPI) -> None:
    """Add every UI route to ``app``."""
    from modelyard import __version__

    assets = load_assets()
    renderer = Renderer(assets, __version__)
    pages = Pages(renderer)
    # the server's error handlers render errors of other pages (say an unknown path asked for
    # by a browser) with the UI's error page when this hook is set
    app.state.render_error = renderer.error

    def add(path: str, endpoint: Handler, name: str) -> None:
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False, name=name)

    add("/", _html_errors(pages.experiments, renderer), "ui-experiments")
    add("/experiments/{experiment_id}", _html_errors(pages.runs, renderer), "ui-runs")
    add("/runs/{run_id}", _html_errors(pages.run, renderer), "ui-run")
    add(
        "/runs/{run_id}/artifacts/{path:path}",
        _html_errors(pages.artifact, renderer),
        "ui-artifact",
    )
    add("/compare", _html_errors(pages.compare, renderer), "ui-compare")
    registry = RegistryPages(renderer)
    add("/models", _html_errors(registry.models, renderer), "ui-models")
    add("/models/{name}", _html_errors(registry.model, renderer), "ui-model")
    add("/models/{name}/aliases/{alias}", _html_errors(registry.alias, renderer), "ui-model-alias")
    add(
        "/models/{name}/versions/{version}",
        _html_errors(registry.version, renderer),
        "ui-model-version",
    )
    pipelines = PipelinePages(renderer)
    add("/pipelines", _html_errors(pipelines.pipelines, renderer), "ui-pipelines")
    add("/pipelines/runs/{run_id}", _html_errors(pipelines.run, renderer), "ui-pipeline-run")
    # after the run route: a pipeline name may hold a "/"
    add("/pipelines/{name:path}", _html_errors(pipelines.pipeline, renderer), "ui-pipeline")
    add("/ui/data/runs/{run_id}/metrics/{key:path}", _json_errors(run_metric), "ui-data-metric")
    add(
        "/ui/data/compare/metrics/{key:path}",
        _json_errors(compare_metric),
        "ui-data-compare-metric",
    )
    add("/static/{path:path}", _static(assets), "ui-static")
