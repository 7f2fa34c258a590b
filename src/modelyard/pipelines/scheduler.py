"""The scheduler: runs the steps of one or more pipeline runs on one executor.

:class:`Scheduler` walks the graphs of its pipeline runs (:class:`ScheduledRun`) in
topological order. A step whose upstream steps are done gets its cache key and a decision
(:func:`~modelyard.pipelines.cache.decide`): a cache hit is recorded FINISHED, "cached from"
the run that computed it; a step with the same key already running here (the same ``prepare``
of 20 sweep trials) is waited for and reused; anything else is submitted to the executor as an
attempt. A failed attempt is retried after ``retry_delay * retry_backoff ** (n - 1)`` seconds;
one past its timeout is killed. The last failure fails the step and its pipeline run (steps
already running finish; nothing new starts; steps never started are SKIPPED). A finished step
run is recorded with its outputs (artifacts ``outputs/<name>``, dataset links for lineage,
numeric dict outputs as metrics) and its cache entry, written with an atomic insert-or-ignore.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import ModelyardError
from modelyard.pipelines.cache import KeyMaker, decide
from modelyard.pipelines.entities import OutputRef
from modelyard.pipelines.records import safe_params
from modelyard.tracking.entities import FAILED, FINISHED, KILLED, RUNNING

if TYPE_CHECKING:
    from modelyard.pipelines.executors import InlineExecutor, ProcessExecutor, RayExecutor
    from modelyard.pipelines.graph import Graph, Node, Pipeline
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.pipelines.worker import TaskResult
    from modelyard.tracking.client import TrackingClient

__all__ = ["ScheduledRun", "ScheduledStep", "Scheduler"]

_TERMINAL = frozenset({FINISHED, FAILED, "SKIPPED"})


def _returns_model(func: Any) -> bool:
    from modelyard.pipelines.outputs import Model

    annotation = getattr(func, "__annotations__", {}).get("return")
    if annotation is None:
        return False
    if annotation is Model:
        return True
    if isinstance(annotation, str) and annotation.rsplit(".", 1)[-1] == "Model":
        import typing

        try:
            return typing.get_type_hints(func).get("return") is Model
        except Exception:  # an annotation that cannot be resolved: not ours
            return False
    return False


@dataclass
class ScheduledStep:
    """One step of a pipeline run in flight: its status, run, key, attempts and outputs."""

    node: Node
    status: str = "PENDING"
    run_id: str | None = None
    key: str | None = None
    components: dict[str, Any] | None = None
    cached_from: str | None = None
    outputs: list[OutputRef] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None
    message: str | None = None
    handle: int | None = None
    deadline: float | None = None
    retry_at: float | None = None
    replace: bool = False
    inputs: dict[str, OutputRef] = field(default_factory=dict)


@dataclass
class ScheduledRun:
    """One pipeline run in flight: its graph, tracked run and the state of every step."""

    pipeline: Pipeline
    graph: Graph
    run_id: str
    experiment_id: int
    experiment: str
    run_fields: dict[str, Any]
    steps: dict[str, ScheduledStep]
    force: set[str]
    resume: Mapping[str, Mapping[str, Any]] | None
    failed: str | None = None

    def done(self) -> bool:
        return all(s.status in _TERMINAL for s in self.steps.values())


def _outputs_of(run: ScheduledRun, node: Node) -> dict[str, OutputRef] | None:
    refs: dict[str, OutputRef] = {}
    for arg, (up, out) in node.inputs.items():
        upstream = run.steps[up]
        if upstream.status != FINISHED:
            return None
        match = next((r for r in upstream.outputs if r.name == out), None)
        if match is None:
            return None
        refs[arg] = match
    return refs


class Scheduler:
    """Runs the steps of several pipeline runs on one executor."""

    def __init__(
        self,
        runs: list[ScheduledRun],
        executor: InlineExecutor | ProcessExecutor | RayExecutor,
        client: TrackingClient,
        store: SqlPipelineStore,
    ) -> None:
        self.runs = runs
        self.executor = executor
        self.client = client
        self.store = store
        self.keys = KeyMaker(client)
        self.running: dict[int, tuple[ScheduledRun, ScheduledStep]] = {}
        self.inflight: dict[str, ScheduledStep] = {}
        self.waiting: dict[str, list[tuple[ScheduledRun, ScheduledStep]]] = {}

    def run(self) -> None:
        try:
            while True:
                progressed = self._start_ready()
                if all(r.done() for r in self.runs) and not self.running:
                    return
                if progressed and self.executor.name == "inline":
                    self._collect(0)
                    continue
                wake = self._next_wake()
                if not progressed and not self.running and wake == 0.0:
                    self._stuck()
                    continue
                if not self.running and wake:
                    time.sleep(wake)  # only retries wait: nothing to collect meanwhile
                    continue
                self._collect(wake)
                self._expire()
        except BaseException:
            self._abort()
            raise

    # -- starting ---------------------------------------------------------------------------

    def _start_ready(self) -> bool:
        progressed = False
        now = time.monotonic()
        for run in self.runs:
            for step in run.steps.values():
                if step.status == "RETRY" and step.retry_at is not None and step.retry_at <= now:
                    self._submit(run, step)
                    progressed = True
                    continue
                if step.status != "PENDING":
                    continue
                if run.failed is not None:
                    continue
                inputs = _outputs_of(run, step.node)
                if inputs is None:
                    continue
                self._begin(run, step, inputs)
                progressed = True
        for run in self.runs:
            if run.failed is not None:
                for step in run.steps.values():
                    if step.status in ("PENDING", "WAITING"):
                        self._unwait(step)
                        step.status = "SKIPPED"
        return progressed

    def _stuck(self) -> None:
        """Nothing runs and nothing can start: skip what is left rather than spin."""
        for run in self.runs:
            for step in run.steps.values():
                if step.status not in _TERMINAL:
                    step.status = "SKIPPED"
                    run.failed = run.failed or f"step {step.node.name!r} could not be started"

    def _unwait(self, step: ScheduledStep) -> None:
        if step.key and step.key in self.waiting:
            self.waiting[step.key] = [(r, s) for r, s in self.waiting[step.key] if s is not step]

    def _begin(self, run: ScheduledRun, step: ScheduledStep, inputs: dict[str, OutputRef]) -> None:
        node = step.node
        step.inputs = inputs
        try:
            step.key, step.components = self.keys.make(node, inputs)
        except ModelyardError as exc:
            self._fail_before_start(run, step, f"{type(exc).__name__}: {exc.message}")
            return
        decision = decide(
            node,
            step.key,
            store=self.store,
            client=self.client,
            keys=self.keys,
            force=run.force,
            resume=run.resume,
        )
        if decision.action == "hit":
            self._record_hit(run, step, decision.outputs, str(decision.cached_from))
            return
        step.replace = decision.replace
        if node.step.options.cache and node.name not in run.force and step.key in self.inflight:
            step.status = "WAITING"
            self.waiting.setdefault(step.key, []).append((run, step))
            return
        self._start_run(run, step)
        if node.step.options.cache:
            self.inflight.setdefault(step.key, step)
        self._submit(run, step)

    def _step_tags(self, run: ScheduledRun, step: ScheduledStep) -> dict[str, str]:
        tags = {"modelyard.step": step.node.name, "modelyard.pipeline.run_id": run.run_id}
        if step.key:
            tags["modelyard.step.cache_key"] = step.key
        if step.cached_from:
            tags["modelyard.step.cached_from"] = step.cached_from
        return tags

    def _start_run(self, run: ScheduledRun, step: ScheduledStep) -> None:
        step.run_id = uuid.uuid4().hex
        self.store.start_step_run(
            run_id=step.run_id,
            pipeline_run_id=run.run_id,
            experiment_id=run.experiment_id,
            step=step.node.name,
            run_fields=run.run_fields,
            params=safe_params(step.node.params),
            tags=self._step_tags(run, step),
            cache_key=step.key,
            components=step.components,
        )
        step.status = RUNNING

    def _submit(self, run: ScheduledRun, step: ScheduledStep) -> None:
        from modelyard.pipelines.worker import StepTask

        node = step.node
        task = StepTask(
            settings=self.client.config,
            run_id=str(step.run_id),
            step=node.name,
            experiment=run.experiment,
            func=node.step.func,
            arguments=dict(node.params),
            inputs=dict(step.inputs),
            outputs=node.step.options.outputs,
            wants_model=_returns_model(node.step.func),
        )
        _, modules = self.keys.closure(node.step.func)
        step.attempts += 1
        step.status = RUNNING
        step.retry_at = None
        timeout = node.step.options.timeout
        step.deadline = None if timeout is None else time.monotonic() + timeout
        handle = self.executor.submit(task, node.step.options, modules)
        step.handle = handle
        self.running[handle] = (run, step)

    def _links(self, step: ScheduledStep) -> list[tuple[str, str, str]]:
        links = [(ref.digest, "output", f"{step.node.name}.{ref.name}") for ref in step.outputs]
        for arg, ref in step.inputs.items():
            links.append((ref.digest, "input", arg))
        return links

    @staticmethod
    def _artifacts(refs: Iterable[OutputRef]) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for ref in refs:
            if ref.blob:
                out.append((ref.path, ref.blob, ref.size))
            else:
                out.extend((str(f["path"]), str(f["digest"]), int(f["size"])) for f in ref.files)
        return out

    def _record_hit(
        self, run: ScheduledRun, step: ScheduledStep, outputs: list[OutputRef], source: str
    ) -> None:
        step.outputs = list(outputs)
        step.cached_from = source
        step.run_id = uuid.uuid4().hex
        tags = self._step_tags(run, step)
        models = [r.path for r in outputs if r.kind == "model"]
        if models:
            import json

            tags["modelyard.models"] = json.dumps(sorted(models))
        self.store.record_cached_step(
            run_id=step.run_id,
            pipeline_run_id=run.run_id,
            experiment_id=run.experiment_id,
            step=step.node.name,
            run_fields=run.run_fields,
            params=safe_params(step.node.params),
            tags=tags,
            cache_key=step.key,
            components=step.components,
            cached_from=source,
            outputs=[r.to_dict() for r in outputs],
            artifacts=self._artifacts(outputs),
            datasets=self._links(step),
        )
        step.status = FINISHED

    def _fail_before_start(self, run: ScheduledRun, step: ScheduledStep, message: str) -> None:
        if step.run_id is None:
            self._start_run(run, step)
        step.message = message
        step.error = message
        self.store.finish_step_run(
            run_id=str(step.run_id),
            status=FAILED,
            error=message,
            attempts=step.attempts,
            outputs=None,
            artifacts=[],
            datasets=[],
            cache=None,
        )
        step.status = FAILED
        run.failed = run.failed or f"step {step.node.name!r} failed: {message}"

    # -- finishing --------------------------------------------------------------------------

    def _next_wake(self) -> float | None:
        times = [s.deadline for _, s in self.running.values() if s.deadline is not None]
        times += [
            s.retry_at
            for r in self.runs
            for s in r.steps.values()
            if s.status == "RETRY" and s.retry_at is not None
        ]
        if not times:
            return None if self.running else 0.0
        return max(0.0, min(times) - time.monotonic())

    def _collect(self, timeout: float | None) -> None:
        for handle, result in self.executor.wait(timeout):
            found = self.running.pop(handle, None)
            if found is not None:
                self._finish(found[0], found[1], result)

    def _expire(self) -> None:
        now = time.monotonic()
        for handle, (run, step) in list(self.running.items()):
            if step.deadline is not None and step.deadline <= now:
                self.executor.cancel(handle)
                del self.running[handle]
                from modelyard.pipelines.worker import TaskResult

                timeout = step.node.step.options.timeout or 0
                message = f"timed out after {_seconds(timeout)}"
                self._finish(run, step, TaskResult(ok=False, error=message, message=message))

    def _finish(self, run: ScheduledRun, step: ScheduledStep, result: TaskResult) -> None:
        step.handle = None
        step.deadline = None
        if not result.ok:
            options = step.node.step.options
            step.message = result.message or "the step failed"
            step.error = result.error or step.message
            if step.attempts <= options.retries:
                step.status = "RETRY"
                step.retry_at = time.monotonic() + options.delay(step.attempts + 1)
                self.store.update_attempts(str(step.run_id), step.attempts)
                return
            tries = f" (after {step.attempts} attempts)" if step.attempts > 1 else ""
            error = (
                f"{step.message}{tries}\n\n{step.error}"
                if step.error != step.message
                else (f"{step.message}{tries}")
            )
            self.store.finish_step_run(
                run_id=str(step.run_id),
                status=FAILED,
                error=error[-8000:],
                attempts=step.attempts,
                outputs=None,
                artifacts=[],
                datasets=[],
                cache=None,
            )
            step.status = FAILED
            run.failed = run.failed or f"step {step.node.name!r} failed: {step.message}{tries}"
            self._release(step, ok=False)
            return
        step.outputs = list(result.outputs)
        if result.datasets:
            self.store.save_datasets(result.datasets)
        reads = self.store.dataset_reads(str(step.run_id))
        components = dict(step.components or {})
        if reads:
            components["reads"] = reads
        options = step.node.step.options
        cache = None
        if options.cache and step.key:
            expires = None
            if options.cache_expiry is not None:
                expires = int(time.time() * 1000 + options.cache_expiry * 1000)
            cache = {
                "key": step.key,
                "step": step.node.name,
                "outputs": [r.to_dict() for r in step.outputs],
                "reads": reads or None,
                "expires_at": expires,
                "replace": step.replace,
            }
        self.store.finish_step_run(
            run_id=str(step.run_id),
            status=FINISHED,
            error=None,
            attempts=step.attempts,
            outputs=[r.to_dict() for r in step.outputs],
            artifacts=self._artifacts(step.outputs),
            datasets=self._links(step),
            cache=cache,
            components=components if reads else None,
        )
        step.components = components
        step.status = FINISHED
        self._release(step, ok=True)

    def _release(self, step: ScheduledStep, *, ok: bool) -> None:
        """Hand the result of ``step`` to the steps that waited for the same key."""
        if not step.key or self.inflight.get(step.key) is not step:
            return
        del self.inflight[step.key]
        for run, waiter in self.waiting.pop(step.key, []):
            if run.failed is not None:
                waiter.status = "SKIPPED"
            elif ok:
                self._record_hit(run, waiter, step.outputs, str(step.run_id))
            else:
                waiter.status = "PENDING"  # decide again: it runs itself

    def _abort(self) -> None:
        for handle in list(self.running):
            try:
                self.executor.cancel(handle)
            except Exception:
                continue
        for run in self.runs:
            for step in run.steps.values():
                if step.run_id and step.status in (RUNNING, "RETRY"):
                    try:
                        self.client.store.end_run(step.run_id, KILLED, error="interrupted")
                    except Exception:
                        continue
                    step.status = KILLED


def _seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"
