"""Pipelines in remote mode: the pipeline records over the routes of ``modelyard server``.

When the client's tracking store is remote (``MODELYARD_TRACKING_URI``),
:func:`~modelyard.pipelines.records.pipeline_store` answers a :class:`RemotePipelineStore`: the
methods of :class:`~modelyard.pipelines.sqlstore.SqlPipelineStore` that the runner, the
planner and the readers call, each one request to ``server/pipelines_api.py`` over the client's
own :class:`~modelyard.tracking.remote_session.RemoteSession` (token, keep-alive, retries with
backoff, errors re-raised by class). The scheduler, the cache decisions and the user's code
stay in the user's process; step processes get the same settings, so their outputs and metrics
go through the server too.

Every write is safe to repeat after a lost answer: run ids are chosen by the client and the
server inserts pipeline and step records only once under them (a repeat answers 200 and writes
nothing), ends and attempt counts are plain updates, and cache entries are insert-or-ignore
(or a conditional upsert of the same values). Reads of pipeline runs use the public routes
(``GET /api/pipelines/runs/{run_id}``...) and turn their answers back into the store's rows.

>>> store = RemotePipelineStore(client.store.session)            # doctest: +SKIP
>>> store.get_cache("0" * 64) is None                             # doctest: +SKIP
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import NotFound
from modelyard.tracking.remote_session import decode_float

if TYPE_CHECKING:
    from modelyard.tracking.remote_session import RemoteSession

__all__ = ["RemotePipelineStore"]

_RUN_REF = re.compile(r"[0-9a-fA-F]{4,32}")
#: Run ids per ``GET /api/pipelines/metrics`` (a URL stays under 4 KB).
_METRICS_CHUNK = 100


def _metrics(data: Mapping[str, Any] | None) -> dict[str, float]:
    return {k: decode_float(v) for k, v in (data or {}).items()}


def _run_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """The store's row of a pipeline run, from the ``to_dict()`` of its ``PipelineRun``."""
    steps = []
    for name, step in data["steps"].items():
        if step.get("run_id") is None:  # SKIPPED or PENDING: the store has no row for it
            continue
        steps.append(
            {
                "run_id": step["run_id"],
                "pipeline_run_id": data["run_id"],
                "step": name,
                "status": step["status"],
                "cache_key": step.get("cache_key"),
                "components": step.get("components"),
                "cached_from": step.get("cached_from_run_id"),
                "outputs": list((step.get("outputs") or {}).values()) or None,
                "attempts": int(step.get("attempts") or 0),
                "error": step.get("error"),
                "start_time": step.get("start_time"),
                "end_time": step.get("end_time"),
            }
        )
    return {
        "run_id": data["run_id"],
        "pipeline": data["pipeline"],
        "source": data.get("source"),
        "params": dict(data.get("params") or {}),
        "graph": dict(data.get("graph") or {}),
        "executor": data["executor"],
        "resumed_from": data.get("resumed_from_run_id"),
        "status": data["status"],
        "start_time": data["start_time"],
        "end_time": data.get("end_time"),
        "error": data.get("error"),
        "parent_run_id": data.get("parent_run_id"),
        "metrics": _metrics(data.get("metrics")),
        "steps": steps,
    }


def _summary_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """The store's row of a pipeline, from the ``to_dict()`` of its ``PipelineSummary``."""
    return {
        "pipeline": data["name"],
        "runs": int(data["runs"]),
        "run_id": data["last_run_id"],
        "status": data["last_status"],
        "start_time": data["last_start_time"],
        "end_time": data.get("last_end_time"),
        "source": data.get("source"),
        "executor": data["executor"],
        "experiment_id": data.get("experiment_id"),
    }


def _links(items: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(item) for item in items]


def _step_body(
    pipeline_run_id: str,
    experiment_id: int,
    step: str,
    run_fields: dict[str, Any],
    params: dict[str, str],
    tags: dict[str, str],
    cache_key: str | None,
    components: dict[str, Any] | None,
) -> dict[str, Any]:
    """The body of ``PUT /api/pipelines/steps/{run_id}`` for a step's child run."""
    return {
        "pipeline_run_id": pipeline_run_id,
        "experiment_id": experiment_id,
        "step": step,
        "run_fields": run_fields,
        "params": params,
        "tags": tags,
        "cache_key": cache_key,
        "components": components,
    }


class RemotePipelineStore:
    """The pipeline records of a Modelyard server, with the methods of ``SqlPipelineStore``."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session
        self._datasets: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"RemotePipelineStore({self.session.url!r})"

    # -- pipeline runs ----------------------------------------------------------------------

    def create_pipeline_run(
        self,
        run_id: str,
        *,
        pipeline: str,
        source: str | None,
        params: dict[str, Any],
        graph: dict[str, Any],
        executor: str,
        resumed_from: str | None,
    ) -> None:
        """``PUT /api/pipelines/runs/{run_id}``: the record of a tracked run (once)."""
        body = {
            "pipeline": pipeline,
            "source": source,
            "params": params,
            "graph": graph,
            "executor": executor,
            "resumed_from": resumed_from,
        }
        self.session.call("PUT", f"/api/pipelines/runs/{run_id}", body=body)

    def get_pipeline_run(self, run_id: str) -> dict[str, Any]:
        """The row of a pipeline run (a unique prefix of 4+ characters works), with its steps."""
        if not isinstance(run_id, str) or not _RUN_REF.fullmatch(run_id):
            raise NotFound(
                f"there is no pipeline run {run_id!r}",
                hint="list them with: modelyard pipelines list",
            )
        return _run_row(self.session.call("GET", f"/api/pipelines/runs/{run_id}"))

    def latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """The latest value of every metric of each run in ``run_ids``."""
        ids = sorted(set(run_ids))
        out: dict[str, dict[str, float]] = {}
        for start in range(0, len(ids), _METRICS_CHUNK):
            chunk = ids[start : start + _METRICS_CHUNK]
            data = self.session.call("GET", "/api/pipelines/metrics", params={"run_id": chunk})
            out.update({k: _metrics(v) for k, v in data["metrics"].items()})
        return out

    def list_pipeline_runs(
        self, pipeline: str | None = None, max_results: int = 50
    ) -> list[dict[str, Any]]:
        """Newest first: pipeline run rows with status, times and steps."""
        params: dict[str, Any] = {"max_results": max_results}
        if pipeline is not None:
            params["pipeline"] = pipeline
        data = self.session.call("GET", "/api/pipelines/runs", params=params)
        return [_run_row(r) for r in data["pipeline_runs"]]

    def list_pipelines(self) -> list[dict[str, Any]]:
        """One row per pipeline name, by name: its run count and its newest run."""
        data = self.session.call("GET", "/api/pipelines")
        return [_summary_row(p) for p in data["pipelines"]]

    # -- step runs --------------------------------------------------------------------------

    def start_step_run(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int,
        step: str,
        run_fields: dict[str, Any],
        params: dict[str, str],
        tags: dict[str, str],
        cache_key: str | None,
        components: dict[str, Any] | None,
    ) -> None:
        """``PUT /api/pipelines/steps/{run_id}``: the RUNNING child run and its step row."""
        body = _step_body(
            pipeline_run_id, experiment_id, step, run_fields, params, tags, cache_key, components
        )
        self.session.call("PUT", f"/api/pipelines/steps/{run_id}", body=body)

    def record_cached_step(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int,
        step: str,
        run_fields: dict[str, Any],
        params: dict[str, str],
        tags: dict[str, str],
        cache_key: str | None,
        components: dict[str, Any] | None,
        cached_from: str,
        outputs: list[dict[str, Any]],
        artifacts: list[tuple[str, str, int]],
        datasets: list[tuple[str, str, str]],
    ) -> None:
        """``PUT /api/pipelines/steps/{run_id}`` with ``cached``: a FINISHED cache hit."""
        body = _step_body(
            pipeline_run_id, experiment_id, step, run_fields, params, tags, cache_key, components
        )
        body["cached"] = {
            "cached_from": cached_from,
            "outputs": outputs,
            "artifacts": _links(artifacts),
            "datasets": _links(datasets),
        }
        self.session.call("PUT", f"/api/pipelines/steps/{run_id}", body=body)

    def save_datasets(self, infos: Iterable[Any]) -> None:
        """Dataset records for output links: sent with the next :meth:`finish_step_run` (the
        scheduler saves them just before it; one request less per step), which the server
        stores before the links that name them."""
        self._datasets.extend(i.to_dict() for i in infos)

    def finish_step_run(
        self,
        *,
        run_id: str,
        status: str,
        error: str | None,
        attempts: int,
        outputs: list[dict[str, Any]] | None,
        artifacts: list[tuple[str, str, int]],
        datasets: list[tuple[str, str, str]],
        cache: dict[str, Any] | None,
        components: dict[str, Any] | None = None,
    ) -> None:
        """``POST /api/pipelines/steps/{run_id}/end``: dataset records, links, step row, cache
        entry, status."""
        body = {
            "status": status,
            "error": error,
            "attempts": attempts,
            "outputs": outputs,
            "artifacts": _links(artifacts),
            "datasets": _links(datasets),
            "cache": cache,
            "components": components,
        }
        rows, self._datasets = self._datasets, []
        if rows:
            body["datasets_info"] = rows
        try:
            self.session.call("POST", f"/api/pipelines/steps/{run_id}/end", body=body)
        except BaseException:
            self._datasets[:0] = rows
            raise

    def update_attempts(self, run_id: str, attempts: int) -> None:
        """``PATCH /api/pipelines/steps/{run_id}``: the number of attempts so far."""
        self.session.call("PATCH", f"/api/pipelines/steps/{run_id}", body={"attempts": attempts})

    def dataset_reads(self, run_id: str) -> list[dict[str, str]]:
        """Files and folders a step run recorded as inputs itself (``yard.log_input(path)``)."""
        data = self.session.call("GET", f"/api/pipelines/steps/{run_id}/reads")
        return [{"path": str(r["path"]), "digest": str(r["digest"])} for r in data["reads"]]

    # -- the cache --------------------------------------------------------------------------

    def get_cache(self, key: str) -> dict[str, Any] | None:
        """``GET /api/pipelines/cache/{key}``: the entry, or None."""
        entry: dict[str, Any] | None = self.session.call("GET", f"/api/pipelines/cache/{key}")[
            "entry"
        ]
        return entry

    def previous_step_run(
        self, pipeline: str, step: str, before: int | None = None
    ) -> dict[str, Any] | None:
        """The newest finished run of ``step`` in a run of ``pipeline`` (for explanations)."""
        params: dict[str, Any] = {"pipeline": pipeline, "step": step}
        if before is not None:
            params["before"] = before
        row: dict[str, Any] | None = self.session.call(
            "GET", "/api/pipelines/previous-step", params=params
        )["step_run"]
        return row
