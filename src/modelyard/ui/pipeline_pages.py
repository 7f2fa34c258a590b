"""The pipeline pages of the web UI: pipelines, one pipeline, one pipeline run.

``/pipelines`` lists the pipelines that have runs (run count, newest run and its status) and
the newest runs of all of them. ``/pipelines/{name}`` draws the pipeline's DAG as its newest
run left it (steps coloured by status, cache hits marked), a chart of one metric across its
runs, and the table of its runs (status, steps run and cached, duration, params, latest
metrics), with a form to explain what changed between two runs. ``/pipelines/runs/{run_id}``
shows one run: its DAG, each step (status, cache hit and the step run it was served from,
duration, attempts, outputs linked to their artifact files, error, the step's own tracked
run), a timeline of when each step ran, params and metrics; ``?explain=RUN`` adds, for each
step, whether its cache key matched that run's and which part changed.

The pages call :mod:`modelyard.pipelines` with ``client=`` the app's
:func:`~modelyard.server.registry_api.registry_client`; the DAG picture of
:func:`~modelyard.pipelines.pipeline_svg` carries user text, so it is inlined through
:func:`~modelyard.ui.svg.safe_svg`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelyard import pipelines as pl
from modelyard.errors import ModelyardError, NotFound
from modelyard.pipelines.svg import timeline_svg
from modelyard.server.registry_api import registry_client
from modelyard.ui.svg import safe_svg

if TYPE_CHECKING:
    from markupsafe import Markup
    from starlette.requests import Request
    from starlette.responses import Response

    from modelyard.pipelines import PipelineDiff, PipelineRun, StepRun
    from modelyard.tracking.client import TrackingClient
    from modelyard.ui.render import Renderer

__all__ = ["MAX_METRIC_COLUMNS", "PipelinePages", "RunSummary", "StepRow", "summarize"]

#: Most metric (and param) columns the runs table of a pipeline shows.
MAX_METRIC_COLUMNS = 8
#: Runs listed on the pipelines page and on a pipeline's page.
RECENT_RUNS, PIPELINE_RUNS = 50, 200


@dataclass(frozen=True)
class RunSummary:
    """One row of a runs table: the run, and counts of its steps by what happened to them."""

    run: PipelineRun
    steps: int
    executed: int
    cached: int
    failed: int


def summarize(run: PipelineRun) -> RunSummary:
    """Counts of ``run``'s steps: all, run (finished without the cache), cached, failed."""
    steps = run.steps.values()
    return RunSummary(
        run=run,
        steps=len(run.steps),
        executed=sum(1 for s in steps if s.status == "FINISHED" and not s.cached),
        cached=sum(1 for s in steps if s.cached),
        failed=sum(1 for s in steps if s.status in ("FAILED", "KILLED")),
    )


@dataclass(frozen=True)
class StepRow:
    """One row of a run's steps table, with the links the template needs."""

    step: StepRun
    outputs: list[dict[str, Any]]
    error_line: str


def _outputs(base: str, step: StepRun) -> list[dict[str, Any]]:
    """Each output of ``step`` with a link: its file among the step run's artifacts, or (for
    a model, a folder) the step run's page."""
    out = []
    for ref in step.outputs.values():
        href = ""
        if step.run_id:
            if ref.kind == "model" or not ref.path:
                href = f"{base}/runs/{step.run_id}#artifacts"
            else:
                href = f"{base}/runs/{step.run_id}/artifacts/{quote(ref.path, safe='/')}"
        out.append({"name": ref.name, "kind": ref.kind, "size": ref.size, "digest": ref.digest,
                    "href": href})  # fmt: skip
    return out


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:300] if lines else ""  # a traceback's last line names the exception


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _picture(run: PipelineRun) -> Markup:
    return safe_svg(pl.pipeline_svg(run), f"DAG of pipeline {run.pipeline}, run {run.run_id}")


def _timeline(run: PipelineRun) -> Markup | None:
    svg = timeline_svg(run)
    return None if svg is None else safe_svg(svg, f"when each step of run {run.run_id} ran")


class PipelinePages:
    """The pipeline page handlers of one app (``routes.py`` gives them their URLs)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    # -- /pipelines -------------------------------------------------------------------------

    def pipelines(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        found = pl.list_pipelines(client=client)
        recent = pl.list_pipeline_runs(max_results=RECENT_RUNS, client=client) if found else []
        context = {
            "section": "pipelines",
            "pipelines": found,
            "runs": [summarize(r) for r in recent],
        }
        return self.renderer.page(request, "pipelines.html", context)

    # -- /pipelines/{name} ------------------------------------------------------------------

    def pipeline(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        name = str(request.path_params["name"])
        runs = pl.list_pipeline_runs(name, max_results=PIPELINE_RUNS, client=client)
        if not runs:
            raise NotFound(
                f"there is no pipeline {name!r} with runs",
                hint="the pipelines with runs are listed at /pipelines",
            )
        counts: dict[str, int] = {}
        for run in runs:
            for key in run.metrics:
                counts[key] = counts.get(key, 0) + 1
        keys = sorted(counts, key=lambda k: (-counts[k], k))  # the most common first
        metrics = sorted(keys[:MAX_METRIC_COLUMNS])
        varied = [
            key
            for key in sorted({k for r in runs for k in r.params})
            if len({repr(r.params.get(key)) for r in runs}) > 1
        ][:MAX_METRIC_COLUMNS]
        wanted = str(request.query_params.get("metric", ""))
        metric = wanted if wanted in counts else (keys[0] if keys else "")
        oldest_first = list(reversed(runs))
        base = self._base(request)
        chart = {
            "metric": metric,
            "x": list(range(1, len(runs) + 1)),
            "x_title": "run, oldest first",
            "labels": [
                f"{r.run_id[:8]} " + " ".join(f"{k}={r.params.get(k)!r}" for k in varied)
                for r in oldest_first
            ],
            "metrics": {k: [_finite(r.metrics.get(k)) for r in oldest_first] for k in sorted(keys)},
            "links": [f"{base}/pipelines/runs/{r.run_id}" for r in oldest_first],
        }
        context = {
            "section": "pipelines",
            "name": name,
            "chart": chart,
            "metric": metric,
            "metric_keys": sorted(keys),
            "latest": runs[0],
            "picture": _picture(runs[0]),
            "runs": [summarize(r) for r in runs],
            "metric_columns": metrics,
            "param_columns": varied,
            "finite": _finite,
            "shown": len(runs),
            "limit": PIPELINE_RUNS,
        }
        return self.renderer.page(request, "pipeline.html", context, charts=bool(keys))

    # -- /pipelines/runs/{run_id} -----------------------------------------------------------

    def run(self, request: Request) -> Response:
        client = registry_client(request.app.state)
        run = pl.get_pipeline_run(str(request.path_params["run_id"]), client=client)
        base = self._base(request)
        steps = [StepRow(s, _outputs(base, s), _first_line(s.error)) for s in run.steps.values()]
        others = [
            r
            for r in pl.list_pipeline_runs(run.pipeline, max_results=RECENT_RUNS, client=client)
            if r.run_id != run.run_id
        ]
        explain_with, diff, explain_error = self._explain(request, client, run)
        context = {
            "section": "pipelines",
            "run": run,
            "summary": summarize(run),
            "picture": _picture(run),
            "timeline": _timeline(run),
            "steps": steps,
            "others": others,
            "explain_with": explain_with,
            "diff": diff,
            "explain_error": explain_error,
            "changed": 0 if diff is None else sum(1 for s in diff.steps.values() if not s.same_key),
        }
        return self.renderer.page(request, "pipeline_run.html", context)

    @staticmethod
    def _explain(
        request: Request, client: TrackingClient, run: PipelineRun
    ) -> tuple[str | None, PipelineDiff | None, str | None]:
        other = str(request.query_params.get("explain", "")).strip()
        if not other:
            return None, None, None
        try:
            diff = pl.explain_runs(other[:64], run.run_id, client=client)
        except ModelyardError as exc:
            return other[:64], None, exc.message
        return diff.run_a, diff, None
