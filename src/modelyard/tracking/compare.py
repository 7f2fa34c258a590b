"""Side-by-side comparison of runs: what differs in params, metrics, data, code and environment.

:func:`compare_runs` turns 2 or more runs into rows ``(section, key, values, differs)`` that
the CLI prints as a table with differences highlighted, and ``--json`` prints as is.

>>> from modelyard.tracking.entities import Run
>>> a = Run("a" * 32, 1, "a", "FINISHED", 0, params={"C": "1"})
>>> b = Run("b" * 32, 1, "b", "FINISHED", 0, params={"C": "2"})
>>> [r.key for r in compare_runs([a, b]).rows if r.differs]
['run_id', 'name', 'C']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidArgument
from modelyard.tracking.entities import Run

__all__ = ["Comparison", "ComparisonRow", "compare_runs"]


@dataclass(frozen=True)
class ComparisonRow:
    section: str
    key: str
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True)
class Comparison:
    run_ids: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_ids": list(self.run_ids),
            "rows": [dataclasses.asdict(r) | {"values": list(r.values)} for r in self.rows],
        }


def _same(values: Sequence[Any]) -> bool:
    first = values[0]
    for value in values[1:]:
        both_nan = (
            isinstance(first, float)
            and isinstance(value, float)
            and math.isnan(first)
            and math.isnan(value)
        )
        if value != first and not both_nan:
            return False
    return True


def compare_runs(runs: Sequence[Run]) -> Comparison:
    """Compare 2 to 10 runs key by key."""
    if not 2 <= len(runs) <= 10:
        raise InvalidArgument(
            f"compare needs 2 to 10 runs, got {len(runs)}",
            hint="pass run ids: modelyard runs compare RUN_A RUN_B",
        )
    rows: list[ComparisonRow] = []

    def add(section: str, key: str, values: list[Any]) -> None:
        rows.append(ComparisonRow(section, key, tuple(values), not _same(values)))

    add("run", "run_id", [r.run_id for r in runs])
    add("run", "name", [r.name for r in runs])
    add("run", "status", [r.status for r in runs])
    add(
        "run", "duration_s", [None if r.duration_ms is None else r.duration_ms / 1000 for r in runs]
    )
    for section, attr in (("params", "params"), ("metrics", "metrics"), ("tags", "tags")):
        keys = sorted({k for r in runs for k in getattr(r, attr)})
        for key in keys:
            add(section, key, [getattr(r, attr).get(key) for r in runs])
    names = sorted({(i.direction, i.name) for r in runs for i in r.inputs})
    for direction, name in names:
        values = []
        for r in runs:
            found = [i.digest[:12] for i in r.inputs if (i.direction, i.name) == (direction, name)]
            values.append(",".join(found) or None)
        add("data", f"{direction}:{name}", values)
    add("code", "commit", [(r.code or {}).get("commit") for r in runs])
    add("code", "dirty", [(r.code or {}).get("dirty") for r in runs])
    add(
        "code",
        "diff_digest",
        [((r.code or {}).get("diff_digest") or "")[:12] or None for r in runs],
    )
    add("environment", "digest", [(r.environment_digest or "")[:12] or None for r in runs])
    return Comparison(tuple(r.run_id for r in runs), tuple(rows))
