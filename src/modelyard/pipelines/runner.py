"""Running pipelines: :func:`run_graphs`, the entry point that runs traced graphs.

:func:`run_graphs` runs one or more traced graphs (one for ``Pipeline.run``, many for a sweep)
on one executor. Each graph gets a tracked pipeline run (:mod:`modelyard.pipelines.records`);
the :class:`~modelyard.pipelines.scheduler.Scheduler` then runs their steps as child runs,
serving what it can from the cache (:mod:`modelyard.pipelines.cache`); at the end each pipeline
run collects the metrics of its steps and ends FINISHED or FAILED. A failure of the scheduler
itself (or Ctrl-C) ends every pipeline run FAILED (KILLED when interrupted).
:func:`~modelyard.pipelines.plans.plan_pipeline` makes the same decisions without running
anything (``dry_run=True``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.pipelines.plans import plan_pipeline
from modelyard.pipelines.records import (
    PARAMS_ARTIFACT,
    finish_pipeline_run,
    pipeline_store,
    resolve_client,
    run_fields,
    start_pipeline_run,
)
from modelyard.pipelines.scheduler import ScheduledRun, ScheduledStep, Scheduler
from modelyard.tracking.entities import FAILED, KILLED

if TYPE_CHECKING:
    from modelyard.pipelines.entities import PipelineRun
    from modelyard.pipelines.graph import Graph, Pipeline
    from modelyard.tracking.client import TrackingClient

__all__ = ["PARAMS_ARTIFACT", "pipeline_store", "plan_pipeline", "run_graphs"]


def run_graphs(
    items: Sequence[tuple[Pipeline, Graph, Mapping[str, Mapping[str, Any]] | None]],
    *,
    executor: str = "local",
    max_workers: int | None = None,
    force: Iterable[str] = (),
    experiment: str | None = None,
    client: TrackingClient | None = None,
    parent_run_id: str | None = None,
    resumed_from: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> list[PipelineRun]:
    """Run traced graphs on one executor; one :class:`PipelineRun` per graph, in order."""
    from modelyard.pipelines.executors import open_executor
    from modelyard.pipelines.runs import get_pipeline_run
    from modelyard.tracking import fluent

    client = resolve_client(client)
    store = pipeline_store(client)
    forced = set([force] if isinstance(force, str) else force)
    for name in forced:
        for _, graph, _ in items:
            graph.node(name)  # raises, naming the steps, when there is no such step
    engine = open_executor(executor, max_workers, client)
    label = "inline" if engine.name == "inline" else executor
    if parent_run_id is None:
        active = fluent.active_run()
        if active is not None and active._client is client:
            parent_run_id = active.run_id
    runs: list[ScheduledRun] = []
    try:
        for pipeline, graph, resume in items:
            run_id = start_pipeline_run(
                client,
                store,
                pipeline,
                graph,
                experiment=experiment,
                executor=label,
                parent_run_id=parent_run_id,
                resumed_from=resumed_from,
                tags=tags,
            )
            experiment_id, fields = run_fields(client, run_id)
            experiment_name = client.store.get_experiment(experiment_id).name
            runs.append(
                ScheduledRun(
                    pipeline=pipeline,
                    graph=graph,
                    run_id=run_id,
                    experiment_id=experiment_id,
                    experiment=experiment_name,
                    run_fields=fields,
                    steps={n.name: ScheduledStep(n) for n in graph.nodes},
                    force=forced,
                    resume=resume,
                )
            )
        Scheduler(runs, engine, client, store).run()
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
        for run in runs:
            try:
                client.end_run(
                    run.run_id,
                    KILLED if interrupted else FAILED,
                    error="interrupted" if interrupted else f"{type(exc).__name__}: {exc}",
                )
            except Exception:
                continue
        raise
    finally:
        engine.close()
    for run in runs:
        finish_pipeline_run(client, store, run)
    return [get_pipeline_run(run.run_id, client=client) for run in runs]
