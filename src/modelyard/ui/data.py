"""The JSON the pages' JavaScript fetches, under ``/ui/data/``: metric series for charts.

``GET /ui/data/runs/{run_id}/metrics/{key}?x=step|time`` returns one run's history of ``key``;
``GET /ui/data/compare/metrics/{key}?runs=A,B,...&x=step|time`` returns one series per run that
logged ``key``. Both are downsampled server-side (:mod:`modelyard.ui.series`), so a chart never
receives more than :data:`~modelyard.ui.series.MAX_POINTS` points per series. Errors use the
one JSON error shape (``{"error": {"code", "message", "hint"}, "status"}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from modelyard.errors import NotFound
from modelyard.ui.pages import MAX_COMPARE, parse_run_ids, store_of
from modelyard.ui.series import metric_series, parse_x_axis

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["compare_metric", "run_metric"]


def _no_metric(run_id: str, key: str) -> NotFound:
    return NotFound(
        f"run {run_id} has no metric {key!r}",
        hint=f"the run page lists the metrics it logged: /runs/{run_id}",
    )


def run_metric(request: Request) -> JSONResponse:
    """One run's history of one metric, as chart data."""
    run_id = str(request.path_params["run_id"])
    key = str(request.path_params["key"])
    x_axis = parse_x_axis(request.query_params.get("x"))
    history = store_of(request).get_metric_history(run_id, key)
    if not history:
        raise _no_metric(run_id, key)
    body: dict[str, Any] = {"run_id": run_id, "key": key, **metric_series(history, x_axis)}
    return JSONResponse(body)


def compare_metric(request: Request) -> JSONResponse:
    """The history of one metric for each of 1 to 10 runs, as chart data."""
    key = str(request.path_params["key"])
    x_axis = parse_x_axis(request.query_params.get("x"))
    ids = parse_run_ids(request.query_params.getlist("runs"), low=1, high=MAX_COMPARE)
    store = store_of(request)
    series = []
    for run_id in ids:
        history = store.get_metric_history(run_id, key)
        if history:
            series.append({"run_id": run_id, **metric_series(history, x_axis)})
    if not series:
        raise NotFound(
            f"none of the runs {', '.join(ids)} has a metric {key!r}",
            hint="compare a metric that the runs logged",
        )
    return JSONResponse({"key": key, "x_axis": x_axis, "series": series})
