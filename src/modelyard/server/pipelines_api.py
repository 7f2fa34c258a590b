"""The pipeline routes of the HTTP API: pipelines, pipeline runs, their DAG, and explain.

Read-only, like the web UI's pipeline pages: running or resuming a pipeline imports the
user's code, which belongs in the user's process (``training.run()``, ``modelyard pipelines
run``), not in the server. Each route calls one function of :mod:`modelyard.pipelines` with
``client=`` the app's :func:`~modelyard.server.registry_api.registry_client` and answers the
``to_dict()`` of what it returns, or an error in the one error shape.

``GET /api/pipelines/runs/{run_id}/graph`` answers the DAG as JSON, or with ``format=svg``
the picture of :func:`~modelyard.pipelines.pipeline_svg` (steps coloured by status, cache hits
marked) as ``image/svg+xml``.

>>> [path for _, path, _, _ in ROUTES]
['/api/pipelines', '/api/pipelines/runs', '/api/pipelines/runs/{run_id}', \
'/api/pipelines/runs/{run_id}/graph', '/api/pipelines/explain']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import Response

from modelyard import pipelines as pl
from modelyard.server.registry_api import SVG_HEADERS, registry_client
from modelyard.server.responses import JSONBody

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

__all__ = ["ROUTES", "add_routes"]

_RUN_ID = {"min_length": 4, "max_length": 32, "pattern": r"^[0-9a-fA-F]+$"}
RunId = Annotated[
    str, Path(**_RUN_ID, description="a pipeline run id, or a unique prefix of 4+ characters")
]
RunRef = Annotated[
    str, Query(**_RUN_ID, description="a pipeline run id, or a unique prefix of 4+ characters")
]
PipelineName = Annotated[
    str | None, Query(min_length=1, max_length=256, description="only runs of this pipeline")
]


def _client(request: Request) -> TrackingClient:
    return registry_client(request.app.state)


def list_pipelines(request: Request) -> Response:
    """Every pipeline that has runs, by name: run count, newest run, its status and source."""
    found = pl.list_pipelines(client=_client(request))
    return JSONBody({"pipelines": [p.to_dict() for p in found]})


def list_runs(
    request: Request,
    pipeline: PipelineName = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Pipeline runs, newest first, with their steps and latest metrics."""
    runs = pl.list_pipeline_runs(pipeline, max_results=max_results, client=_client(request))
    return JSONBody({"pipeline_runs": [r.to_dict() for r in runs]})


def get_run(run_id: RunId, request: Request) -> Response:
    """One pipeline run: params, status, error, and each step (status, cache hit, outputs)."""
    return JSONBody(pl.get_pipeline_run(run_id, client=_client(request)).to_dict())


def get_graph(
    run_id: RunId, request: Request, format: Literal["json", "svg"] = "json"
) -> Response:  # fmt: skip
    """The DAG of a pipeline run: steps with their inputs (JSON), or its picture (SVG)."""
    run = pl.get_pipeline_run(run_id, client=_client(request))
    if format == "svg":
        return Response(pl.pipeline_svg(run), media_type="image/svg+xml", headers=SVG_HEADERS)
    return JSONBody({"run_id": run.run_id, "pipeline": run.pipeline, **run.graph})


def explain(run_a: RunRef, run_b: RunRef, request: Request) -> Response:
    """For each step of two pipeline runs: the same cache key, or which parts of it changed
    (a function's code, a param, an input, a file, a package)."""
    return JSONBody(pl.explain_runs(run_a, run_b, client=_client(request)).to_dict())


_TAGS: dict[str, Any] = {"tags": ["pipelines"]}
ROUTES: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
    ("GET", "/api/pipelines", list_pipelines, _TAGS),
    ("GET", "/api/pipelines/runs", list_runs, _TAGS),
    ("GET", "/api/pipelines/runs/{run_id}", get_run, _TAGS),
    ("GET", "/api/pipelines/runs/{run_id}/graph", get_graph, _TAGS),
    ("GET", "/api/pipelines/explain", explain, _TAGS),
]


def add_routes(app: FastAPI) -> None:
    """Add the routes of :data:`ROUTES` to ``app`` (one by one, as ``registry_api`` does)."""
    for method, path, endpoint, extra in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], **extra)
