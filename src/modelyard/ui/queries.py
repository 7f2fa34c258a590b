"""Reads the UI needs that the tracking store does not offer yet: keys and counts of runs.

The column picker lists the param and metric keys of an experiment. :func:`experiment_keys`
reads them from the experiment's newest :data:`RECENT_RUNS` runs, so its cost is bounded
whatever the size of the experiment (about 9 ms for 10,000 runs on SQLite; asking every run
costs 10 to 90 ms there, depending on which keys other experiments use). The runs table adds
the keys of the runs it shows. :func:`count_runs` counts the active runs of one experiment
through the ``(experiment_id, start_time)`` index. Both belong in ``SqlTrackingStore`` once
the store grows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from modelyard.store import tables as t

if TYPE_CHECKING:
    from modelyard.tracking.sqlstore import SqlTrackingStore

__all__ = ["RECENT_RUNS", "ExperimentKeys", "count_runs", "experiment_keys"]


#: How many of an experiment's newest runs :func:`experiment_keys` looks at.
RECENT_RUNS = 1000


@dataclass(frozen=True)
class ExperimentKeys:
    """The param and metric keys (sorted) of the newest runs of an experiment."""

    params: tuple[str, ...]
    metrics: tuple[str, ...]


def _keys_query(table: sa.Table, experiment_id: int, recent: int) -> sa.Select[Any]:
    runs = t.runs
    newest = (
        sa.select(runs.c.run_id)
        .where(runs.c.experiment_id == experiment_id, runs.c.lifecycle_stage == "active")
        .order_by(runs.c.start_time.desc())
        .limit(recent)
    )
    return sa.select(table.c.key).distinct().where(table.c.run_id.in_(newest)).order_by(table.c.key)


def experiment_keys(
    store: SqlTrackingStore, experiment_id: int, recent: int = RECENT_RUNS
) -> ExperimentKeys:
    """The param and metric keys used by the ``recent`` newest runs of an experiment."""
    with store.db.read() as conn:
        params = conn.execute(_keys_query(t.params, experiment_id, recent)).scalars().all()
        metrics = conn.execute(_keys_query(t.latest_metrics, experiment_id, recent)).scalars()
        return ExperimentKeys(
            params=tuple(str(k) for k in params), metrics=tuple(str(k) for k in metrics)
        )


def count_runs(store: SqlTrackingStore, experiment_id: int) -> int:
    """How many active runs experiment ``experiment_id`` has."""
    runs = t.runs
    query = (
        sa.select(sa.func.count())
        .select_from(runs)
        .where(runs.c.experiment_id == experiment_id, runs.c.lifecycle_stage == "active")
    )
    with store.db.read() as conn:
        return int(conn.execute(query).scalar_one())
