"""Dry runs: what ``Pipeline.run`` would do for a graph, step by step, without running it.

:func:`plan_pipeline` makes the scheduler's cache decisions (:mod:`modelyard.pipelines.cache`)
for every step whose inputs are already known (upstream steps that would be cache hits) and
says why the others run; a step with no cached result is compared with its previous run to
name what changed in its key (code, params, inputs, files, environment).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError
from modelyard.pipelines.cache import KeyMaker, decide
from modelyard.pipelines.entities import OutputRef, PipelinePlan, PlannedStep
from modelyard.pipelines.keys import diff_components
from modelyard.pipelines.records import pipeline_store, resolve_client

if TYPE_CHECKING:
    from modelyard.pipelines.graph import Graph, Pipeline
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.tracking.client import TrackingClient

__all__ = ["plan_pipeline"]


def plan_pipeline(
    pipeline: Pipeline,
    graph: Graph,
    *,
    force: Iterable[str] = (),
    client: TrackingClient | None = None,
) -> PipelinePlan:
    """What ``pipeline.run`` would do for ``graph``, step by step, without running anything."""
    client = resolve_client(client)
    store = pipeline_store(client)
    forced = set([force] if isinstance(force, str) else force)
    for name in forced:
        graph.node(name)
    keys = KeyMaker(client)
    known: dict[str, list[OutputRef]] = {}
    planned: dict[str, PlannedStep] = {}
    for node in graph.nodes:
        pending = [up for up in node.upstream if up not in known]
        if pending:
            planned[node.name] = PlannedStep(
                node.name,
                True,
                f"upstream step {pending[0]!r} will run, so its outputs are not known yet",
            )
            continue
        inputs = {}
        for arg, (up, out) in node.inputs.items():
            inputs[arg] = next(r for r in known[up] if r.name == out)
        try:
            key, components = keys.make(node, inputs)
        except ModelyardError as exc:
            planned[node.name] = PlannedStep(
                node.name, True, f"cannot compute its key: {exc.message}"
            )
            continue
        decision = decide(
            node, key, store=store, client=client, keys=keys, force=forced, resume=None
        )
        if decision.action == "hit":
            known[node.name] = decision.outputs
            planned[node.name] = PlannedStep(
                node.name, False, decision.reason, key, decision.cached_from
            )
            continue
        reason = decision.reason
        if reason.startswith("no cached result"):
            reason += _why_new(store, client, pipeline.name, node.name, components)
        planned[node.name] = PlannedStep(node.name, True, reason, key)
    return PipelinePlan(pipeline.name, dict(graph.params), planned)


def _why_new(
    store: SqlPipelineStore,
    client: TrackingClient,
    pipeline: str,
    step: str,
    components: dict[str, Any],
) -> str:
    previous = store.previous_step_run(pipeline, step)
    if previous is None or not previous.get("components"):
        return " (the step never ran before)"
    from modelyard.pipelines.keys import run_environment

    envs = None
    if previous["components"].get("environment") != components.get("environment"):
        from modelyard.tracking.environment import capture_environment

        envs = (run_environment(client, previous["run_id"]), capture_environment())
    before = {k: v for k, v in previous["components"].items() if k != "reads"}
    changes = diff_components(before, components, environments=envs)
    if not changes:
        return ""
    text = "; ".join(c.describe() for c in changes[:5])
    return f": since run {previous['run_id']}, {text}"
