"""Metric histories as chart series: x by step or by time, downsampled for the browser.

A run can log a million points of ``loss``; a chart a thousand pixels wide shows at most a few
thousand. :func:`metric_series` turns a metric history into the JSON a chart draws, and above
:data:`MAX_POINTS` it keeps, for each of ``MAX_POINTS // 2 - 1`` equal buckets of consecutive
points, the lowest and the highest value (min/max bucketing), plus the first and last point.
Spikes and the envelope of a noisy curve survive; the browser never gets 10⁶ points. Values that
are NaN or ±inf become ``null`` (a gap in the line): JSON has no NaN.

>>> import numpy as np
>>> keep = minmax_indices(np.arange(10_000, dtype=float), 100)
>>> len(keep) <= 100, int(keep[0]), int(keep[-1])
(True, 0, 9999)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from modelyard.tracking.entities import Metric

__all__ = ["MAX_POINTS", "X_AXES", "metric_series", "minmax_indices", "parse_x_axis"]

#: Points per series above which the series is downsampled.
MAX_POINTS = 5_000
#: What the x axis can show: the step, or the time the point was logged (ms since the epoch).
X_AXES = ("step", "time")


def parse_x_axis(value: str | None) -> str:
    """``step`` (the default) or ``time``; anything else is an InvalidArgument."""
    if value is None or value == "":
        return "step"
    if value not in X_AXES:
        raise InvalidArgument(
            f"x axis {value!r} is not known: expected 'step' or 'time'",
            hint="use ?x=step or ?x=time",
        )
    return value


def minmax_indices(values: npt.NDArray[np.float64], max_points: int) -> npt.NDArray[np.int64]:
    """Indices to keep so that at most ``max_points`` points remain, in their original order.

    The first and last points are kept; the points between are cut into equal buckets, and each
    bucket keeps the index of its lowest and of its highest finite value (its first index when
    it holds no finite value, so gaps stay visible).
    """
    import numpy as np

    n = len(values)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    if max_points < 4:
        raise InvalidArgument(f"max_points must be at least 4, got {max_points}")
    buckets = (max_points - 2) // 2
    inner = np.where(np.isfinite(values[1:-1]), values[1:-1], np.nan)
    starts = np.linspace(0, len(inner), buckets + 1).astype(np.int64)[:-1]
    sizes = np.diff(np.append(starts, len(inner)))
    bucket_of = np.repeat(np.arange(buckets), sizes)
    with np.errstate(invalid="ignore"):
        lows = np.fmin.reduceat(inner, starts)
        highs = np.fmax.reduceat(inner, starts)

    def first_in_bucket(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        hits = np.flatnonzero(mask)
        _, first = np.unique(bucket_of[hits], return_index=True)
        return hits[first].astype(np.int64)

    low_idx = first_in_bucket(inner == lows[bucket_of])
    high_idx = first_in_bucket(inner == highs[bucket_of])
    empty = starts[np.isnan(lows)]
    keep = np.concatenate(
        [[0], low_idx + 1, high_idx + 1, empty + 1, [n - 1]],
    ).astype(np.int64)
    result: npt.NDArray[np.int64] = np.unique(keep)
    return result


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def metric_series(
    history: Sequence[Metric], x_axis: str = "step", max_points: int = MAX_POINTS
) -> dict[str, Any]:
    """The chart data of one metric history: ``x``, ``y``, and how many points it stands for.

    Points are ordered by step (``x_axis="step"``) or by logging time (``"time"``, x in ms since
    the epoch); ``downsampled`` says whether min/max bucketing dropped some.
    """
    import numpy as np

    x_axis = parse_x_axis(x_axis)
    points = list(history)
    if x_axis == "time":
        points.sort(key=lambda m: (m.timestamp, m.step))
    values = np.fromiter((m.value for m in points), dtype=np.float64, count=len(points))
    keep = minmax_indices(values, max_points)
    chosen = [points[i] for i in keep.tolist()]
    xs: list[int] = [m.step if x_axis == "step" else m.timestamp for m in chosen]
    return {
        "x_axis": x_axis,
        "x": xs,
        "y": [_json_number(m.value) for m in chosen],
        "points": len(points),
        "shown": len(chosen),
        "downsampled": len(chosen) < len(points),
    }
