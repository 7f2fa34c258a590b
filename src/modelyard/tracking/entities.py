"""The values tracking returns: experiments, runs, metric points, dataset inputs, artifacts.

All are frozen dataclasses of plain values, so they print, compare and serialize simply
(``to_dict``). A :class:`RunList` is a list of runs that also knows the next page token and
turns itself into a pandas DataFrame.

>>> Metric(key="loss", step=3, timestamp=0, value=0.25)
Metric(key='loss', step=3, timestamp=0, value=0.25)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RUN_STATUSES",
    "Artifact",
    "DatasetInput",
    "Experiment",
    "Metric",
    "Run",
    "RunList",
]

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
RUN_STATUSES = (RUNNING, FINISHED, FAILED, KILLED)


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    experiment_id: int
    name: str
    description: str | None = None
    lifecycle_stage: str = "active"
    created_at: int = 0
    updated_at: int = 0

    @property
    def id(self) -> int:
        return self.experiment_id

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Metric:
    """One metric point: ``value`` at ``step``, logged at ``timestamp`` (ms since the epoch)."""

    key: str
    step: int
    timestamp: int
    value: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run read (``direction="input"``) or wrote (``"output"``), by content digest."""

    name: str
    digest: str
    direction: str = "input"
    context: str = ""
    kind: str = ""
    rows: int | None = None
    columns: int | None = None
    size_bytes: int | None = None
    source: str | None = None
    schema: list[dict[str, Any]] | None = None
    profile: dict[str, Any] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Artifact:
    """A file logged by a run: its run-relative ``path`` and the digest of its bytes."""

    path: str
    digest: str
    size: int
    created_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Run:
    """A tracked run: what it was given, what it measured, and what produced it.

    ``metrics`` holds the latest value of each metric (highest step, then newest);
    ``get_metric_history`` returns every point. ``code`` and ``environment`` are the
    captured code version and environment (see docs/reproducibility.md).
    """

    run_id: str
    experiment_id: int
    name: str
    status: str
    start_time: int
    end_time: int | None = None
    parent_run_id: str | None = None
    user: str = ""
    host: str = ""
    pid: int | None = None
    heartbeat_at: int | None = None
    error: str | None = None
    entry_point: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()
    code: dict[str, Any] | None = None
    environment_digest: str | None = None
    environment: dict[str, Any] | None = None
    lifecycle_stage: str = "active"

    @property
    def id(self) -> str:
        return self.run_id

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to end (None while running)."""
        return None if self.end_time is None else self.end_time - self.start_time

    def stale_reason(self, now_ms: int, timeout_ms: int) -> str | None:
        """Why a RUNNING run looks abandoned (no heartbeat within ``timeout_ms``), else None."""
        if self.status != RUNNING:
            return None
        last = self.heartbeat_at or self.start_time
        if now_ms - last <= timeout_ms:
            return None
        minutes = (now_ms - last) / 60_000
        return (
            f"no heartbeat for {minutes:.0f} min from pid {self.pid} on {self.host or '?'}; "
            "its process probably died"
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["inputs"] = [i.to_dict() for i in self.inputs]
        return out


class RunList(list[Run]):
    """A page of runs from :func:`modelyard.search_runs`; ``next_page_token`` fetches the next."""

    def __init__(self, runs: list[Run] | tuple[Run, ...] = (), next_page_token: str | None = None):
        super().__init__(runs)
        self.next_page_token = next_page_token

    def to_pandas(self) -> pd.DataFrame:
        """One row per run: attributes, then ``params.*``, ``metrics.*`` and ``tags.*`` columns."""
        import pandas as pd

        rows = []
        for run in self:
            row: dict[str, Any] = {
                "run_id": run.run_id,
                "experiment_id": run.experiment_id,
                "name": run.name,
                "status": run.status,
                "start_time": pd.to_datetime(run.start_time, unit="ms", utc=True),
                "end_time": (
                    pd.to_datetime(run.end_time, unit="ms", utc=True)
                    if run.end_time is not None
                    else pd.NaT
                ),
                "parent_run_id": run.parent_run_id,
            }
            row.update({f"params.{k}": v for k, v in run.params.items()})
            row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
            row.update({f"tags.{k}": v for k, v in run.tags.items()})
            rows.append(row)
        frame: pd.DataFrame = pd.DataFrame(rows)
        return frame
