"""Statistical profiles of tables: compact, JSON-ready, stable across versions.

A profile summarises every column of a table in a few hundred bytes to a few KB, so monitoring
can later compare production traffic against it. Its format is versioned (``"version": 1``)
and documented in ``docs/data.md``: numeric columns get min/max/mean/std, seven quantiles and an
equal-width histogram over their finite values (NaN and nulls count as missing, ±inf is counted
as ``"infinite"``); categorical columns get their distinct count and top values; boolean
columns their true/false counts; datetime columns their range as ISO strings. All numbers are
plain Python ints and floats, ``None`` where a statistic is undefined; nothing is NaN or inf.
Work is vectorised NumPy: one pass per statistic, one partition for all quantiles.

>>> import pandas as pd
>>> profile_frame(pd.DataFrame({"x": [1.0, 2.0, None]}))["columns"]["x"]["missing"]
0.3333333333333333
"""

from __future__ import annotations

import heapq
import math
import sys
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MAX_VALUE_CHARS", "PROFILE_VERSION", "QUANTILES", "profile_frame"]

PROFILE_VERSION = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
MAX_VALUE_CHARS = 200


def profile_frame(df: object, *, bins: int = 20, top: int = 10) -> dict[str, Any]:
    """The profile of every column of ``df`` (format in ``docs/data.md``).

    ``df`` is a pandas DataFrame or Series (a pyarrow Table or polars DataFrame is converted to
    pandas first). ``bins`` is the number of histogram bins of numeric columns, ``top`` the
    number of most frequent values kept for categorical columns.

    >>> import pandas as pd
    >>> p = profile_frame(pd.DataFrame({"city": ["Oslo", "Oslo", "Rome"]}), top=1)
    >>> p["columns"]["city"]["top"], p["columns"]["city"]["other_count"]
    ([{'value': 'Oslo', 'count': 2}], 1)
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidArgument(
            f"bins must be a positive int, got {bins!r}", hint="pass e.g. bins=20"
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidArgument(f"top must be an int >= 0, got {top!r}", hint="pass e.g. top=10")
    frame = _to_pandas(df)
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidArgument(
            f"DataFrame has duplicate column names {dupes}",
            hint="give every column a unique name before profiling",
        )
    rows = len(frame)
    columns = {
        name: _profile_column(frame.iloc[:, i], rows, bins, top) for i, name in enumerate(names)
    }
    return {"version": PROFILE_VERSION, "rows": rows, "columns": columns}


def _to_pandas(obj: object) -> pd.DataFrame:
    import pandas as pd

    from modelyard.data.frames import is_arrow_table, is_polars_frame

    if isinstance(obj, pd.Series):
        return obj.to_frame()
    if isinstance(obj, pd.DataFrame):
        return obj
    if is_polars_frame(obj):
        obj = obj.to_arrow()  # type: ignore[attr-defined]
    if is_arrow_table(obj):
        return _arrow_to_pandas(obj)
    raise InvalidArgument(
        f"cannot profile an object of type {type(obj).__module__}.{type(obj).__qualname__}",
        hint="pass a pandas DataFrame or Series, a pyarrow Table or a polars DataFrame",
    )


def _arrow_to_pandas(table: Any) -> pd.DataFrame:
    """``table.to_pandas()``, except that integer columns with nulls stay exact integers."""
    import pandas as pd
    import pyarrow as pa

    nullable_ints = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
    }
    with_nulls = [
        i
        for i, column in enumerate(table.columns)
        if pa.types.is_integer(column.type) and column.null_count
    ]
    if not with_nulls:
        return table.to_pandas()  # type: ignore[no-any-return]
    keep = [i for i in range(table.num_columns) if i not in with_nulls]
    out: pd.DataFrame = table.select(keep).to_pandas()
    for i in with_nulls:  # ascending, so each insert lands at its original position
        column = table.column(i)
        values = column.to_pandas(types_mapper=nullable_ints.get)
        out.insert(i, table.column_names[i], values.array)
    return out


def _kind(dtype: Any) -> str:
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(dtype):
        return "boolean"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.ArrowDtype):
        pa = sys.modules["pyarrow"]
        arrow_type = dtype.pyarrow_dtype
        if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
            return "datetime"
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return "categorical"
        if pa.types.is_dictionary(arrow_type):
            return "categorical"
        return "other"
    if isinstance(dtype, pd.CategoricalDtype) or types.is_string_dtype(dtype):
        return "categorical"
    return "other"


def _share(part: int, rows: int) -> float | None:
    return part / rows if rows else None


def _float(value: Any) -> float | None:
    out = float(value)
    return out if math.isfinite(out) else None


def _profile_column(s: pd.Series[Any], rows: int, bins: int, top: int) -> dict[str, Any]:
    kind = _kind(s.dtype)
    if kind == "categorical":
        try:
            return _categorical(s, rows, top)
        except TypeError:  # unhashable values (lists, dicts): profile as "other"
            kind = "other"
    if kind == "numeric":
        return _numeric(s, rows, bins)
    if kind == "boolean":
        return _boolean(s, rows)
    if kind == "datetime":
        return _datetime(s, rows)
    missing = int(s.isna().sum())
    return _common("other", s, rows, missing)


def _common(kind: str, s: pd.Series[Any], rows: int, missing: int) -> dict[str, Any]:
    return {
        "type": kind,
        "dtype": str(s.dtype),
        "count": rows - missing,
        "missing": _share(missing, rows),
    }


def _numeric(s: pd.Series[Any], rows: int, bins: int) -> dict[str, Any]:
    import numpy as np
    from pandas.api import types

    if s.dtype == np.float64:
        values: np.ndarray[Any, Any] = s.to_numpy()
    else:
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = int(np.count_nonzero(np.isnan(values)))
    finite_mask = np.isfinite(values)
    n_finite = int(np.count_nonzero(finite_mask))
    out = _common("numeric", s, rows, missing)
    out["infinite"] = rows - missing - n_finite
    if n_finite == 0:
        out.update(
            min=None,
            max=None,
            mean=None,
            std=None,
            quantiles={str(q): None for q in QUANTILES},
            histogram=None,
        )
        return out
    finite = values if n_finite == len(values) else values[finite_mask]
    lo, hi = float(finite.min()), float(finite.max())
    if types.is_integer_dtype(s.dtype):
        # Exact integers: float64 would round values beyond 2**53.
        out["min"], out["max"] = int(s.min()), int(s.max())
    else:
        out["min"], out["max"] = lo, hi
    # Values near the float64 limits may overflow: such statistics become None, not warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        out["mean"] = _float(finite.mean())
        out["std"] = _float(finite.std(ddof=1)) if n_finite > 1 else None
        qs = np.quantile(finite, QUANTILES)
    out["quantiles"] = {str(q): _float(v) for q, v in zip(QUANTILES, qs, strict=True)}
    out["histogram"] = _histogram(finite, lo, hi, bins)
    return out


def _histogram(finite: np.ndarray[Any, Any], lo: float, hi: float, bins: int) -> Any:
    import numpy as np

    if not math.isfinite(hi - lo):
        return None  # the range overflows float64: equal-width bins are meaningless
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _text(value: object) -> str:
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        return text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _categorical(s: pd.Series[Any], rows: int, top: int) -> dict[str, Any]:
    import numpy as np

    counts_series = s.value_counts(dropna=True, sort=False)
    counts_series = counts_series[counts_series > 0]  # unused categories
    counts = counts_series.to_numpy(dtype=np.int64)
    values = counts_series.index.to_numpy()
    count = int(counts.sum())
    out = _common("categorical", s, rows, rows - count)
    out["unique"] = len(counts)
    entries: list[dict[str, Any]] = []
    if top and len(counts):
        if len(counts) > top:
            kth = np.partition(counts, len(counts) - top)[len(counts) - top]
            candidates = np.flatnonzero(counts >= kth)
        else:
            candidates = np.arange(len(counts))
        # Most frequent first; ties broken by the value's text, so the result is deterministic.
        best = heapq.nsmallest(
            top, candidates.tolist(), key=lambda i: (-int(counts[i]), str(values[i]))
        )
        entries = [{"value": _text(values[i]), "count": int(counts[i])} for i in best]
    out["top"] = entries
    out["other_count"] = count - sum(e["count"] for e in entries)
    return out


def _boolean(s: pd.Series[Any], rows: int) -> dict[str, Any]:
    missing = int(s.isna().sum())
    true_count = int(s.sum(skipna=True))
    out = _common("boolean", s, rows, missing)
    out["true_count"] = true_count
    out["false_count"] = rows - missing - true_count
    return out


def _iso(value: Any) -> str | None:
    import pandas as pd

    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value.isoformat())


def _datetime(s: pd.Series[Any], rows: int) -> dict[str, Any]:
    missing = int(s.isna().sum())
    out = _common("datetime", s, rows, missing)
    count = rows - missing
    out["min"] = _iso(s.min()) if count else None
    out["max"] = _iso(s.max()) if count else None
    return out
