"""Datasets on the run page: each profiled column as a few numbers and a small bar chart.

:func:`column_views` reads a dataset profile (format version 1, see ``docs/data.md``) and returns
one :class:`ColumnView` per column: its type, the statistics worth a glance, and the bars of an
SVG chart laid out here in Python — the histogram of a numeric column, the top values of a
categorical one, true/false counts of a boolean one. The template only draws rectangles, so the
charts need no JavaScript and no charting library.

>>> profile = {"version": 1, "rows": 2, "columns": {"ok": {"type": "boolean", "dtype": "bool",
...     "count": 2, "missing": 0.0, "true_count": 1, "false_count": 1}}}
>>> [b.label for b in column_views(profile)[0].bars]
['true: 1', 'false: 1']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "MAX_COLUMNS", "Bar", "ColumnView", "column_views"]

CHART_WIDTH = 180
CHART_HEIGHT = 48
#: Columns drawn per dataset; the rest are counted in a note.
MAX_COLUMNS = 60


@dataclass(frozen=True)
class Bar:
    """One rectangle of a column chart (SVG user units) and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class ColumnView:
    """A profiled column as the run page shows it."""

    name: str
    type: str
    dtype: str
    stats: tuple[tuple[str, str], ...]
    bars: tuple[Bar, ...]


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _bars(counts: Sequence[float], labels: Sequence[str]) -> tuple[Bar, ...]:
    if not counts:
        return ()
    top = max(counts) or 1
    gap = 1.0 if len(counts) < 40 else 0.0
    width = CHART_WIDTH / len(counts)
    bars = []
    for i, (count, label) in enumerate(zip(counts, labels, strict=True)):
        height = 0.0 if count <= 0 else max(1.0, CHART_HEIGHT * count / top)
        bars.append(
            Bar(
                x=round(i * width, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(max(width - gap, 0.5), 2),
                height=round(height, 2),
                label=label,
            )
        )
    return tuple(bars)


def _numeric(col: Mapping[str, Any]) -> tuple[list[tuple[str, str]], tuple[Bar, ...]]:
    stats = [
        ("min", _num(col.get("min"))),
        ("max", _num(col.get("max"))),
        ("mean", _num(col.get("mean"))),
        ("std", _num(col.get("std"))),
    ]
    if col.get("infinite"):
        stats.append(("infinite", _num(col.get("infinite"))))
    histogram = col.get("histogram")
    if not isinstance(histogram, Mapping):
        return stats, ()
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    if len(edges) != len(counts) + 1:
        return stats, ()
    labels = []
    for i, count in enumerate(counts):
        close = "]" if i == len(counts) - 1 else ")"
        labels.append(f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{close}: {count:,}")
    return stats, _bars([float(c) for c in counts], labels)


def _categorical(col: Mapping[str, Any]) -> tuple[list[tuple[str, str]], tuple[Bar, ...]]:
    top = [t for t in col.get("top") or [] if isinstance(t, Mapping)]
    stats = [("unique", _num(col.get("unique")))]
    if top:
        stats.append(("top", str(top[0].get("value"))))
    counts = [float(t.get("count") or 0) for t in top]
    labels = [f"{t.get('value')}: {int(t.get('count') or 0):,}" for t in top]
    other = col.get("other_count") or 0
    if other:
        counts.append(float(other))
        labels.append(f"other values: {int(other):,}")
    return stats, _bars(counts, labels)


def _boolean(col: Mapping[str, Any]) -> tuple[list[tuple[str, str]], tuple[Bar, ...]]:
    true, false = int(col.get("true_count") or 0), int(col.get("false_count") or 0)
    stats = [("true", _num(true)), ("false", _num(false))]
    return stats, _bars([true, false], [f"true: {true:,}", f"false: {false:,}"])


def column_views(profile: Mapping[str, Any] | None, limit: int = MAX_COLUMNS) -> list[ColumnView]:
    """The first ``limit`` columns of ``profile`` as views (none for a missing profile)."""
    if not isinstance(profile, Mapping):
        return []
    columns = profile.get("columns")
    if not isinstance(columns, Mapping):
        return []
    views = []
    for name, col in list(columns.items())[:limit]:
        if not isinstance(col, Mapping):
            continue
        kind = str(col.get("type", "other"))
        missing = col.get("missing")
        stats: list[tuple[str, str]] = [
            ("count", _num(col.get("count"))),
            ("missing", "–" if missing is None else f"{100 * float(missing):.1f}%"),
        ]
        bars: tuple[Bar, ...] = ()
        if kind == "numeric":
            more, bars = _numeric(col)
        elif kind == "categorical":
            more, bars = _categorical(col)
        elif kind == "boolean":
            more, bars = _boolean(col)
        elif kind == "datetime":
            more = [("min", _num(col.get("min"))), ("max", _num(col.get("max")))]
        else:
            more = []
        views.append(
            ColumnView(
                name=str(name),
                type=kind,
                dtype=str(col.get("dtype", "")),
                stats=tuple(stats + more),
                bars=bars,
            )
        )
    return views
