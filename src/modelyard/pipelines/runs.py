"""Reading pipeline runs back, resuming them, and explaining what changed between two.

:func:`get_pipeline_run` and :func:`list_pipeline_runs` build :class:`PipelineRun` values from
the store. :func:`resume_pipeline` reruns a failed or killed pipeline run as a new run
(tagged ``modelyard.pipeline.resumed_from``): every step that completed with the same cache key
reuses its recorded outputs — even with ``cache=False`` — so only the failed step and what
follows it run. :func:`explain_runs` compares the stored key components of each step of two
runs and names what changed: a function's code, a param, an input, a file, a package.

>>> explain_runs("3f2a9c1d", "7b1e0f42").steps["train"].describe()   # doctest: +SKIP
'code of flows.train changed; param C: 1.0 -> 0.5'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidState, NotFound
from modelyard.pipelines.entities import (
    SKIPPED,
    OutputRef,
    PipelineDiff,
    PipelineRun,
    PipelineSummary,
    StepDiff,
    StepRun,
)
from modelyard.pipelines.keys import diff_components, run_environment
from modelyard.pipelines.runner import PARAMS_ARTIFACT, pipeline_store, run_graphs

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Pipeline
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "explain_runs",
    "get_pipeline_run",
    "list_pipeline_runs",
    "list_pipelines",
    "output_ref",
    "resume_pipeline",
    "step_of",
]


def _client(client: TrackingClient | None) -> TrackingClient:
    if client is not None:
        return client
    from modelyard.tracking.fluent import get_client

    return get_client()


def _step_run(row: Mapping[str, Any]) -> StepRun:
    duration = None
    if row.get("end_time") is not None:
        duration = (row["end_time"] - row["start_time"]) / 1000
    outputs = {o["name"]: OutputRef.from_dict(o) for o in row.get("outputs") or ()}
    return StepRun(
        name=row["step"],
        status=row["status"],
        cached=row.get("cached_from") is not None,
        cached_from_run_id=row.get("cached_from"),
        outputs=outputs,
        duration=duration,
        error=row.get("error"),
        run_id=row["run_id"],
        cache_key=row.get("cache_key"),
        attempts=int(row.get("attempts") or 0),
        components=row.get("components"),
        start_time=row.get("start_time"),
        end_time=row.get("end_time"),
    )


def _pipeline_run(row: Mapping[str, Any]) -> PipelineRun:
    by_name = {r["step"]: r for r in row["steps"]}
    steps: dict[str, StepRun] = {}
    order = [s["name"] for s in row["graph"].get("steps", [])]
    for name in order + [n for n in by_name if n not in order]:
        if name in by_name:
            steps[name] = _step_run(by_name[name])
        else:
            steps[name] = StepRun(
                name=name, status=SKIPPED if row["status"] != "RUNNING" else "PENDING"
            )
    return PipelineRun(
        run_id=row["run_id"],
        pipeline=row["pipeline"],
        status=row["status"],
        params=dict(row["params"]),
        steps=steps,
        error=row.get("error"),
        start_time=row["start_time"],
        end_time=row.get("end_time"),
        executor=row["executor"],
        source=row.get("source"),
        resumed_from_run_id=row.get("resumed_from"),
        parent_run_id=row.get("parent_run_id"),
        metrics=dict(row.get("metrics") or {}),
        graph=dict(row["graph"]),
    )


def get_pipeline_run(run_id: str, *, client: TrackingClient | None = None) -> PipelineRun:
    """A pipeline run by id (a unique prefix of at least 4 characters also works).

    >>> yard.get_pipeline_run("3f2a9c1d").steps["train"].cached     # doctest: +SKIP
    True
    """
    return _pipeline_run(pipeline_store(_client(client)).get_pipeline_run(run_id))


def list_pipeline_runs(
    pipeline: str | None = None,
    *,
    max_results: int = 50,
    client: TrackingClient | None = None,
) -> list[PipelineRun]:
    """Pipeline runs, newest first (only those of ``pipeline`` when given), with the latest
    value of each metric they logged."""
    client = _client(client)
    client.mark_dead_runs()
    store = pipeline_store(client)
    rows = store.list_pipeline_runs(pipeline, max_results)
    metrics = store.latest_metrics([row["run_id"] for row in rows])
    return [_pipeline_run({**row, "metrics": metrics.get(row["run_id"], {})}) for row in rows]


def list_pipelines(*, client: TrackingClient | None = None) -> list[PipelineSummary]:
    """Every pipeline that has runs, by name, with its run count and newest run.

    >>> [(p.name, p.runs, p.last_status) for p in yard.list_pipelines()]   # doctest: +SKIP
    [('training', 3, 'FINISHED')]
    """
    client = _client(client)
    client.mark_dead_runs()
    return [
        PipelineSummary(
            name=row["pipeline"],
            runs=int(row["runs"]),
            last_run_id=row["run_id"],
            last_status=row["status"],
            last_start_time=row["start_time"],
            last_end_time=row["end_time"],
            source=row["source"],
            executor=row["executor"],
            experiment_id=row["experiment_id"],
        )
        for row in pipeline_store(client).list_pipelines()
    ]


def step_of(run: PipelineRun, step: str) -> StepRun:
    """Step ``step`` of ``run``; NotFound naming the steps it has."""
    try:
        return run.steps[step]
    except KeyError:
        raise NotFound(
            f"pipeline run {run.run_id} has no step {step!r}",
            hint="its steps are: " + ", ".join(run.steps),
        ) from None


def output_ref(step: StepRun, name: str) -> OutputRef:
    """The ref of output ``name`` of ``step``; NotFound when it has none by that name."""
    if name not in step.outputs:
        raise NotFound(
            f"step {step.name!r} has no output {name!r}"
            + ("" if step.outputs else f" (it is {step.status})"),
            hint=(
                "its outputs are: " + ", ".join(step.outputs)
                if step.outputs
                else "only finished steps have outputs"
            ),
        )
    return step.outputs[name]


def _params(client: TrackingClient, run_id: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The params of a pipeline run as given (pickled when they were not plain JSON)."""
    names = [a.path for a in client.list_artifacts(run_id, PARAMS_ARTIFACT)]
    if PARAMS_ARTIFACT not in names:
        return stored
    import pickle

    value = pickle.loads(client.read_artifact(run_id, PARAMS_ARTIFACT))
    return dict(value)


def resume_pipeline(
    run_id: str,
    *,
    executor: str | None = None,
    max_workers: int | None = None,
    pipeline: Pipeline | None = None,
    client: TrackingClient | None = None,
) -> PipelineRun:
    """Rerun a FAILED or KILLED pipeline run, reusing every step that completed.

    The pipeline is found again from where it was defined (``pipeline`` overrides that); the
    new run has the same params and, unless given, the same executor.

    >>> yard.resume_pipeline("3f2a9c1d").status        # doctest: +SKIP
    'FINISHED'
    """
    client = _client(client)
    store = pipeline_store(client)
    client.mark_dead_runs()
    row = store.get_pipeline_run(run_id)
    run_id = row["run_id"]
    if row["status"] == "RUNNING":
        raise InvalidState(
            f"pipeline run {run_id} is still running",
            hint="wait for it to end, or stop its process first",
        )
    if row["status"] == "FINISHED":
        raise InvalidState(
            f"pipeline run {run_id} finished: there is nothing to resume",
            hint="run the pipeline again; its steps will come from the cache",
        )
    if pipeline is None:
        if not row.get("source"):
            raise InvalidState(
                f"pipeline run {run_id} does not record where pipeline {row['pipeline']!r} is "
                "defined (it was defined inside a function)",
                hint="pass it: yard.resume_pipeline(run_id, pipeline=training)",
            )
        from modelyard.pipelines.loading import load_pipeline

        pipeline = load_pipeline(row["source"])
    params = _params(client, run_id, row["params"])
    graph = pipeline.graph(**params)
    completed = {
        r["step"]: r for r in row["steps"] if r["status"] == "FINISHED" and r.get("outputs")
    }
    previous_executor = row["executor"]
    if executor is None:
        executor = "local" if previous_executor == "inline" else previous_executor
        if previous_executor == "inline" and max_workers is None:
            max_workers = 0
    return run_graphs(
        [(pipeline, graph, completed)],
        executor=executor,
        max_workers=max_workers,
        client=client,
        parent_run_id=row.get("parent_run_id"),
        resumed_from=run_id,
    )[0]


def explain_runs(run_a: str, run_b: str, *, client: TrackingClient | None = None) -> PipelineDiff:
    """For each step of two pipeline runs: same cache key, or which parts of it changed."""
    client = _client(client)
    a = get_pipeline_run(run_a, client=client)
    b = get_pipeline_run(run_b, client=client)
    names = list(b.steps) + [n for n in a.steps if n not in b.steps]
    envs: dict[str, Any] = {}

    def env(run_id: str | None) -> Any:
        if run_id is None:
            return None
        if run_id not in envs:
            envs[run_id] = run_environment(client, run_id)
        return envs[run_id]

    steps: dict[str, StepDiff] = {}
    for name in names:
        sa, sb = a.steps.get(name), b.steps.get(name)
        ca = sa.components if sa is not None else None
        cb = sb.components if sb is not None else None
        if sa is not None and sb is not None and sa.cache_key and sa.cache_key == sb.cache_key:
            steps[name] = StepDiff(name, True)
            continue
        environments = None
        if ca and cb and ca.get("environment") != cb.get("environment"):
            environments = (env(sa.run_id if sa else None), env(sb.run_id if sb else None))
        changes = diff_components(ca, cb, environments=environments)
        steps[name] = StepDiff(name, False, tuple(changes))
    return PipelineDiff(a.run_id, b.run_id, steps)
