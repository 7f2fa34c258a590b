"""Running pipelines: cache keys, cache decisions, scheduling, retries, timeouts, lineage.

:func:`run_graphs` runs one or more traced graphs (one for ``Pipeline.run``, many for a sweep)
on one executor. Each graph gets a tracked pipeline run; each step a child run. The scheduler
walks the graphs in topological order: a step whose upstream steps are done gets its cache
key (:mod:`modelyard.pipelines.keys`), then

1. a step of a resumed run whose key matches the completed step of the old run reuses its
   recorded outputs;
2. unless forced or ``cache=False``, a valid entry of the shared ``step_cache`` table (not
   expired, files it read unchanged, blobs still stored) is a hit: the step run is recorded
   FINISHED, "cached from" the run that computed it, with the same artifacts and datasets;
3. a step with the same key already running in this scheduler (the same ``prepare`` of 20
   sweep trials) is waited for and reused;
4. otherwise an attempt is submitted to the executor. A failed attempt is retried after
   ``retry_delay * retry_backoff ** (n - 1)`` seconds; one past its timeout is killed. The
   last failure fails the step and its pipeline run (steps already running finish; nothing
   new starts; steps never started are SKIPPED).

Outputs of finished steps are recorded with their run (artifacts ``outputs/<name>``, dataset
links for lineage, numeric dict outputs as metrics) and the cache entry is written with an
atomic insert-or-ignore. :func:`plan_pipeline` makes the same decisions without running
anything (``dry_run=True``).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError, InvalidArgument, ModelyardError
from modelyard.pipelines.entities import OutputRef, PipelinePlan, PipelineRun, PlannedStep
from modelyard.pipelines.keys import cache_key, canonical, diff_components

if TYPE_CHECKING:
    from modelyard.pipelines.executors import InlineExecutor, ProcessExecutor, RayExecutor
    from modelyard.pipelines.graph import Graph, Node, Pipeline
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.pipelines.worker import TaskResult
    from modelyard.tracking.client import TrackingClient

__all__ = ["pipeline_store", "plan_pipeline", "run_graphs"]

PARAMS_ARTIFACT = "_modelyard/pipeline_params.pkl"
_FINISHED, _FAILED, _KILLED, _RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"
_TERMINAL = frozenset({_FINISHED, _FAILED, "SKIPPED"})


def _client(client: TrackingClient | None) -> TrackingClient:
    if client is not None:
        return client
    from modelyard.tracking.fluent import get_client

    return get_client()


def pipeline_store(client: TrackingClient) -> SqlPipelineStore:
    """The pipeline records behind ``client`` (the same database as its runs)."""
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.store.database import Database

    db = getattr(client.store, "db", None)
    if not isinstance(db, Database):
        raise ConfigError(
            "pipelines need direct access to the metadata store, but this client talks to a "
            f"server ({client.config.tracking_uri})",
            hint="unset MODELYARD_TRACKING_URI and set MODELYARD_DATABASE_URL and "
            "MODELYARD_ARTIFACT_URL to the stores the server uses",
        )
    return SqlPipelineStore(db)


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


def _safe_params(values: Mapping[str, Any]) -> dict[str, str]:
    """Params as tracking stores them; values that do not fit are shortened, bad keys skipped."""
    import json

    from modelyard.tracking import validation as v

    out = {}
    for key, value in values.items():
        try:
            key = v.validate_key(key, "param")
        except InvalidArgument:
            continue
        text = value if isinstance(value, str) else json.dumps(canonical(value), sort_keys=True)
        if len(text) > v.MAX_PARAM_VALUE_LENGTH:
            text = text[: v.MAX_PARAM_VALUE_LENGTH - 3] + "..."
        out[key] = text
    return out


class KeyMaker:
    """Computes cache keys, remembering code closures for the life of one scheduler."""

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self._closures: dict[int, tuple[Any, dict[str, str], list[str]]] = {}
        self._env: str | None = None
        self._stat_cache: Any = None

    def closure(self, func: Any) -> tuple[dict[str, str], list[str]]:
        found = self._closures.get(id(func))
        if found is None or found[0] is not func:
            from modelyard.pipelines.closure import _Walker

            walker = _Walker()
            walker.visit(func)
            import sys

            modules = sorted(m for m in walker.modules if m in sys.modules)
            found = (func, dict(sorted(walker.digests.items())), modules)
            self._closures[id(func)] = found
        return found[1], found[2]

    def environment(self) -> str:
        if self._env is None:
            from modelyard.tracking.environment import capture_environment

            self._env = capture_environment().digest
        return self._env

    def digest_file(self, path: str) -> str:
        from modelyard.data import StatCache, digest_path

        if self._stat_cache is None:
            self._stat_cache = StatCache(self.client.config.home / "stat-cache.db")
        return digest_path(path, stat_cache=self._stat_cache)[0]

    def make(self, node: Node, upstream: Mapping[str, OutputRef]) -> tuple[str, dict[str, Any]]:
        """The key of ``node`` given the refs of its inputs (argument name -> ref)."""
        code, _ = self.closure(node.step.func)
        func = node.step.func
        components: dict[str, Any] = {
            "code": code,
            "params": {k: canonical(v) for k, v in node.params.items() if k not in node.files},
            "inputs": {arg: ref.digest for arg, ref in sorted(upstream.items())},
            "files": {arg: self.digest_file(path) for arg, path in sorted(node.files.items())},
            "environment": self.environment(),
            "outputs": {
                "names": list(node.step.options.outputs),
                "returns": str(getattr(func, "__annotations__", {}).get("return")),
            },
        }
        return cache_key(components), components


@dataclass
class Decision:
    """What to do with a step: ``hit`` (reuse ``outputs``) or ``run`` (and why)."""

    action: str
    reason: str
    outputs: list[OutputRef] = field(default_factory=list)
    cached_from: str | None = None
    replace: bool = False


def decide(
    node: Node,
    key: str,
    *,
    store: SqlPipelineStore,
    client: TrackingClient,
    keys: KeyMaker,
    force: set[str],
    resume: Mapping[str, Mapping[str, Any]] | None,
) -> Decision:
    """Whether ``node`` with cache key ``key`` can be served without running, and why not."""
    options = node.step.options
    old = (resume or {}).get(node.name)
    if old is not None and old.get("cache_key") == key and old.get("outputs") is not None:
        refs = [OutputRef.from_dict(o) for o in old["outputs"]]
        if _blobs_present(refs, client):
            source = old.get("cached_from") or old["run_id"]
            return Decision("hit", f"completed in the resumed run ({source})", refs, source)
    if node.name in force:
        return Decision("run", "forced", replace=True)
    if not options.cache:
        return Decision("run", "cache=False")
    entry = store.get_cache(key)
    if entry is None:
        return Decision("run", "no cached result for this cache key")
    now = int(time.time() * 1000)
    source = str(entry["run_id"])
    if entry.get("expires_at") is not None and entry["expires_at"] < now:
        return Decision("run", f"the cached result of run {source} expired", replace=True)
    if options.cache_expiry is not None and entry["created_at"] + options.cache_expiry * 1000 < now:
        return Decision(
            "run",
            f"the cached result of run {source} is older than cache_expiry "
            f"({options.cache_expiry:g}s)",
            replace=True,
        )
    for read in entry.get("reads") or ():
        try:
            digest = keys.digest_file(read["path"])
        except ModelyardError:
            digest = None
        if digest != read["digest"]:
            return Decision(
                "run", f"file {read['path']} changed since run {source} read it", replace=True
            )
    refs = [OutputRef.from_dict(o) for o in entry["outputs"]]
    if not _blobs_present(refs, client):
        return Decision(
            "run", f"the outputs of run {source} are no longer in the artifact store", replace=True
        )
    return Decision("hit", f"cached from run {source}", refs, source)


def _blobs_present(refs: Iterable[OutputRef], client: TrackingClient) -> bool:
    for ref in refs:
        digests = [ref.blob] if ref.blob else [str(f["digest"]) for f in ref.files]
        for digest in digests:
            if digest and not client.artifacts.exists(digest):
                return False
    return True


# -- pipeline runs in flight ------------------------------------------------------------------


@dataclass
class _Step:
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
class _Run:
    pipeline: Pipeline
    graph: Graph
    run_id: str
    experiment_id: int
    experiment: str
    run_fields: dict[str, Any]
    steps: dict[str, _Step]
    force: set[str]
    resume: Mapping[str, Mapping[str, Any]] | None
    failed: str | None = None

    def done(self) -> bool:
        return all(s.status in _TERMINAL for s in self.steps.values())


def _outputs_of(run: _Run, node: Node) -> dict[str, OutputRef] | None:
    refs: dict[str, OutputRef] = {}
    for arg, (up, out) in node.inputs.items():
        upstream = run.steps[up]
        if upstream.status != _FINISHED:
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
        runs: list[_Run],
        executor: InlineExecutor | ProcessExecutor | RayExecutor,
        client: TrackingClient,
        store: SqlPipelineStore,
    ) -> None:
        self.runs = runs
        self.executor = executor
        self.client = client
        self.store = store
        self.keys = KeyMaker(client)
        self.running: dict[int, tuple[_Run, _Step]] = {}
        self.inflight: dict[str, _Step] = {}
        self.waiting: dict[str, list[tuple[_Run, _Step]]] = {}

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

    def _unwait(self, step: _Step) -> None:
        if step.key and step.key in self.waiting:
            self.waiting[step.key] = [(r, s) for r, s in self.waiting[step.key] if s is not step]

    def _begin(self, run: _Run, step: _Step, inputs: dict[str, OutputRef]) -> None:
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

    def _step_tags(self, run: _Run, step: _Step) -> dict[str, str]:
        tags = {"modelyard.step": step.node.name, "modelyard.pipeline.run_id": run.run_id}
        if step.key:
            tags["modelyard.step.cache_key"] = step.key
        if step.cached_from:
            tags["modelyard.step.cached_from"] = step.cached_from
        return tags

    def _start_run(self, run: _Run, step: _Step) -> None:
        step.run_id = uuid.uuid4().hex
        self.store.start_step_run(
            run_id=step.run_id,
            pipeline_run_id=run.run_id,
            experiment_id=run.experiment_id,
            step=step.node.name,
            run_fields=run.run_fields,
            params=_safe_params(step.node.params),
            tags=self._step_tags(run, step),
            cache_key=step.key,
            components=step.components,
        )
        step.status = _RUNNING

    def _submit(self, run: _Run, step: _Step) -> None:
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
        step.status = _RUNNING
        step.retry_at = None
        timeout = node.step.options.timeout
        step.deadline = None if timeout is None else time.monotonic() + timeout
        handle = self.executor.submit(task, node.step.options, modules)
        step.handle = handle
        self.running[handle] = (run, step)

    def _links(self, step: _Step) -> list[tuple[str, str, str]]:
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

    def _record_hit(self, run: _Run, step: _Step, outputs: list[OutputRef], source: str) -> None:
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
            params=_safe_params(step.node.params),
            tags=tags,
            cache_key=step.key,
            components=step.components,
            cached_from=source,
            outputs=[r.to_dict() for r in outputs],
            artifacts=self._artifacts(outputs),
            datasets=self._links(step),
        )
        step.status = _FINISHED

    def _fail_before_start(self, run: _Run, step: _Step, message: str) -> None:
        if step.run_id is None:
            self._start_run(run, step)
        step.message = message
        step.error = message
        self.store.finish_step_run(
            run_id=str(step.run_id),
            status=_FAILED,
            error=message,
            attempts=step.attempts,
            outputs=None,
            artifacts=[],
            datasets=[],
            cache=None,
        )
        step.status = _FAILED
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

    def _finish(self, run: _Run, step: _Step, result: TaskResult) -> None:
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
                status=_FAILED,
                error=error[-8000:],
                attempts=step.attempts,
                outputs=None,
                artifacts=[],
                datasets=[],
                cache=None,
            )
            step.status = _FAILED
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
            status=_FINISHED,
            error=None,
            attempts=step.attempts,
            outputs=[r.to_dict() for r in step.outputs],
            artifacts=self._artifacts(step.outputs),
            datasets=self._links(step),
            cache=cache,
            components=components if reads else None,
        )
        step.components = components
        step.status = _FINISHED
        self._release(step, ok=True)

    def _release(self, step: _Step, *, ok: bool) -> None:
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
                if step.run_id and step.status in (_RUNNING, "RETRY"):
                    try:
                        self.client.store.end_run(step.run_id, _KILLED, error="interrupted")
                    except Exception:
                        continue
                    step.status = _KILLED


def _seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"


# -- entry points -----------------------------------------------------------------------------


def _run_fields(client: TrackingClient, run_id: str) -> tuple[int, dict[str, Any]]:
    run = client.get_run(run_id)
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = ""
    fields = {
        "user": user,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "entry_point": run.entry_point,
        "code": run.code,
        "environment_digest": run.environment_digest,
    }
    return run.experiment_id, fields


def _start_pipeline_run(
    client: TrackingClient,
    store: SqlPipelineStore,
    pipeline: Pipeline,
    graph: Graph,
    *,
    experiment: str | None,
    executor: str,
    parent_run_id: str | None,
    resumed_from: str | None,
    tags: Mapping[str, Any] | None,
) -> str:
    all_tags = {"modelyard.pipeline": pipeline.name, **(tags or {})}
    if resumed_from:
        all_tags["modelyard.pipeline.resumed_from"] = resumed_from
    run_id = client.create_run(
        experiment, name=pipeline.name, parent_run_id=parent_run_id, tags=all_tags
    )
    try:
        params = {k: canonical(v) for k, v in graph.params.items()}
        if params != graph.params:
            import cloudpickle  # type: ignore[import-untyped]

            client.log_bytes(run_id, cloudpickle.dumps(graph.params), PARAMS_ARTIFACT)
        client.log_params(run_id, _safe_params(graph.params))
        store.create_pipeline_run(
            run_id,
            pipeline=pipeline.name,
            source=pipeline.source,
            params=params,
            graph=graph.to_dict(),
            executor=executor,
            resumed_from=resumed_from,
        )
    except BaseException as exc:
        client.end_run(run_id, _FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    return run_id


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

    client = _client(client)
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
    runs: list[_Run] = []
    try:
        for pipeline, graph, resume in items:
            run_id = _start_pipeline_run(
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
            experiment_id, fields = _run_fields(client, run_id)
            experiment_name = client.store.get_experiment(experiment_id).name
            runs.append(
                _Run(
                    pipeline=pipeline,
                    graph=graph,
                    run_id=run_id,
                    experiment_id=experiment_id,
                    experiment=experiment_name,
                    run_fields=fields,
                    steps={n.name: _Step(n) for n in graph.nodes},
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
                    _KILLED if interrupted else _FAILED,
                    error="interrupted" if interrupted else f"{type(exc).__name__}: {exc}",
                )
            except Exception:
                continue
        raise
    finally:
        engine.close()
    for run in runs:
        _finish_pipeline_run(client, store, run)
    return [get_pipeline_run(run.run_id, client=client) for run in runs]


def _finish_pipeline_run(client: TrackingClient, store: SqlPipelineStore, run: _Run) -> None:
    ids = [s.run_id for s in run.steps.values() if s.run_id]
    sources = [s.cached_from for s in run.steps.values() if s.cached_from]
    metrics = store.latest_metrics(ids + sources)
    merged: dict[str, float] = {}
    for step in run.steps.values():
        if step.run_id is None:
            continue
        own = metrics.get(step.run_id, {})
        if step.cached_from and not own:
            own = metrics.get(step.cached_from, {})
            if own:
                client.log_metrics(step.run_id, own)
        merged.update(own)
    if merged:
        client.log_metrics(run.run_id, merged)
    status = _FAILED if run.failed else _FINISHED
    client.end_run(run.run_id, status, error=run.failed)


def plan_pipeline(
    pipeline: Pipeline,
    graph: Graph,
    *,
    force: Iterable[str] = (),
    client: TrackingClient | None = None,
) -> PipelinePlan:
    """What ``pipeline.run`` would do for ``graph``, step by step, without running anything."""
    client = _client(client)
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
