"""The values pipelines return: runs of pipelines and steps, plans, explanations, sweeps.

All are frozen dataclasses of plain values. A :class:`PipelineRun` is what ``training.run()``
returns and what ``yard.get_pipeline_run(run_id)`` reads back: its status, params and one
:class:`StepRun` per step (status, whether it came from the cache and from which run, its
outputs as :class:`OutputRef`, duration, error, child run id, cache key). A
:class:`PipelinePlan` is the answer of a dry run; a :class:`PipelineDiff` says, step by step,
which part of the cache key changed between two runs.

>>> OutputRef(name="output", kind="json", digest="0" * 64, blob="0" * 64, size=2).kind
'json'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "SKIPPED",
    "KeyChange",
    "OutputRef",
    "PipelineDiff",
    "PipelinePlan",
    "PipelineRun",
    "PlannedStep",
    "StepDiff",
    "StepRun",
    "SweepResult",
    "Trial",
]

SKIPPED = "SKIPPED"
"""Status of a step that never started because an upstream step failed (or was killed)."""


@dataclass(frozen=True)
class OutputRef:
    """One output of a step as stored: how it was serialized and where its bytes are.

    ``digest`` names the content (the dataset digest of a table or array, the model digest of
    a model, the blob digest otherwise) and enters the cache keys of the steps that read it;
    ``blob`` is the artifact-store digest of the serialized bytes (``None`` for a model, whose
    files are listed in ``files``); ``path`` is the artifact path on the producing step run.
    """

    name: str
    kind: str
    digest: str
    blob: str | None
    size: int
    path: str = ""
    library: str | None = None
    uri: str | None = None
    files: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["files"] = [dict(f) for f in self.files]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputRef:
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            digest=str(d["digest"]),
            blob=d.get("blob"),
            size=int(d.get("size") or 0),
            path=str(d.get("path") or ""),
            library=d.get("library"),
            uri=d.get("uri"),
            files=tuple(dict(f) for f in d.get("files") or ()),
        )


@dataclass(frozen=True)
class StepRun:
    """One step of a pipeline run.

    ``status`` is FINISHED, FAILED, KILLED, RUNNING or SKIPPED (never started). A step served
    from the cache is FINISHED with ``cached=True`` and ``cached_from_run_id`` naming the step
    run that computed its outputs. ``duration`` is in seconds (``start_time`` and ``end_time``
    in milliseconds since the epoch); ``components`` holds what the
    cache key was made of (see :func:`modelyard.pipelines.explain_runs`).
    """

    name: str
    status: str
    cached: bool = False
    cached_from_run_id: str | None = None
    outputs: dict[str, OutputRef] = field(default_factory=dict)
    duration: float | None = None
    error: str | None = None
    run_id: str | None = None
    cache_key: str | None = None
    attempts: int = 0
    components: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    start_time: int | None = None
    end_time: int | None = None

    def load(self, name: str = "output", *, client: TrackingClient | None = None) -> Any:
        """The value of output ``name``, read back from the artifact store."""
        from modelyard.pipelines.outputs import load_output
        from modelyard.pipelines.runs import output_ref

        return load_output(output_ref(self, name), _client(client))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        return out


@dataclass(frozen=True)
class PipelineRun:
    """A run of a pipeline: a tracked run whose child runs are its steps.

    ``status`` is RUNNING, FINISHED, FAILED or KILLED; ``error`` names the failed step and its
    exception. ``steps`` maps step names (in topological order) to :class:`StepRun`.
    """

    run_id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    steps: dict[str, StepRun]
    error: str | None = None
    start_time: int = 0
    end_time: int | None = None
    executor: str = "local"
    source: str | None = None
    resumed_from_run_id: str | None = None
    parent_run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None while running)."""
        return None if self.end_time is None else (self.end_time - self.start_time) / 1000

    @property
    def cached_steps(self) -> list[str]:
        """Names of the steps served from the cache."""
        return [name for name, s in self.steps.items() if s.cached]

    def output(
        self, step: str, name: str = "output", *, client: TrackingClient | None = None
    ) -> Any:
        """The value of output ``name`` of ``step``, read back from the artifact store."""
        from modelyard.pipelines.runs import step_of

        return step_of(self, step).load(name, client=client)

    def resume(self, **options: Any) -> PipelineRun:
        """Run the failed or killed pipeline again, reusing every step that completed.

        Takes the options of ``Pipeline.run`` (``executor``, ``max_workers``, ``client``).
        """
        from modelyard.pipelines.runs import resume_pipeline

        return resume_pipeline(self.run_id, **options)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["steps"] = {k: v.to_dict() for k, v in self.steps.items()}
        return out


@dataclass(frozen=True)
class PlannedStep:
    """What a run would do with one step: hit the cache (and from which run) or run it, why."""

    name: str
    would_run: bool
    reason: str
    cache_key: str | None = None
    cached_from_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PipelinePlan:
    """The answer of ``run(dry_run=True)``: one :class:`PlannedStep` per step, in order."""

    pipeline: str
    params: dict[str, Any]
    steps: dict[str, PlannedStep]

    @property
    def to_run(self) -> list[str]:
        return [name for name, s in self.steps.items() if s.would_run]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "params": self.params,
            "steps": {k: v.to_dict() for k, v in self.steps.items()},
        }


@dataclass(frozen=True)
class KeyChange:
    """One difference between two cache keys.

    ``part`` is ``code`` (``name`` is the function, class or constant), ``param``, ``input``
    (an upstream output), ``file`` (a file read), ``environment`` (``name`` is a package, or
    ``python``/``platform``), ``outputs`` or ``step`` (the step exists in one run only).
    """

    part: str
    name: str
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.part == "code":
            if self.before is None:
                return f"code: {self.name} is new"
            if self.after is None:
                return f"code: {self.name} is no longer reached"
            return f"code of {self.name} changed"
        if self.part == "environment":
            return f"package {self.name}: {self.before} -> {self.after}"
        if self.part == "step":
            return f"step only in run {'B' if self.before is None else 'A'}"
        if self.part in ("input", "file"):
            return f"{self.part} {self.name} changed: {_short(self.before)} -> {_short(self.after)}"
        return f"{self.part} {self.name}: {_short(self.before)} -> {_short(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _short(value: Any) -> str:
    text = "absent" if value is None else str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class StepDiff:
    """How the cache key of one step differs between two pipeline runs."""

    name: str
    same_key: bool
    changes: tuple[KeyChange, ...] = ()

    def describe(self) -> str:
        if self.same_key:
            return "same cache key"
        return "; ".join(c.describe() for c in self.changes) or "cache key changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "same_key": self.same_key,
            "changes": [c.to_dict() for c in self.changes],
            "description": self.describe(),
        }


@dataclass(frozen=True)
class PipelineDiff:
    """What changed between pipeline runs ``run_a`` and ``run_b``, step by step."""

    run_a: str
    run_b: str
    steps: dict[str, StepDiff]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "steps": {k: v.to_dict() for k, v in self.steps.items()},
        }


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep: its params, its pipeline run, and the value of the metric."""

    params: dict[str, Any]
    run: PipelineRun
    value: float | None

    @property
    def run_id(self) -> str:
        return self.run.run_id


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its own run (the parent of every trial), the trials and the best."""

    run_id: str
    metric: str | None
    mode: str
    trials: tuple[Trial, ...]
    best: Trial | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "metric": self.metric,
            "mode": self.mode,
            "trials": [
                {"params": t.params, "run_id": t.run_id, "status": t.run.status, "value": t.value}
                for t in self.trials
            ],
            "best": None if self.best is None else self.best.run_id,
        }


@dataclass(frozen=True)
class PipelineSummary:
    """A pipeline as the store knows it: its name, how many runs it has, and its newest run."""

    name: str
    runs: int
    last_run_id: str
    last_status: str
    last_start_time: int
    last_end_time: int | None = None
    source: str | None = None
    executor: str = "local"
    experiment_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _client(client: TrackingClient | None) -> TrackingClient:
    if client is not None:
        return client
    from modelyard.tracking.fluent import get_client

    return get_client()
