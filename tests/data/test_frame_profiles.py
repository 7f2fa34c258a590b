"""Statistical profiles: the documented format, JSON-ready values, exact statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard.data import profile_frame
from modelyard.errors import InvalidArgument

QUANTILE_KEYS = ["0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"]


def _mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, np.nan, np.inf, -np.inf, 2.0, 3.0, None, 4.0],
            "n": pd.array([1, None, 3, 4, 5, 6, 7, 2**60], dtype="Int64"),
            "flag": [True, False, True, True, False, True, True, True],
            "maybe": pd.array([True, None, False, True, None, True, False, True], dtype="boolean"),
            "city": ["Oslo", "Rome", None, "Oslo", "Lima", "Rome", "Oslo", "Bern"],
            "cat": pd.Categorical(list("aabbacaa"), categories=["a", "b", "c", "unused"]),
            "when": pd.to_datetime(["2024-01-02", None, "2023-05-06", "2024-12-31"] * 2),
            "wait": pd.to_timedelta(range(8), unit="s"),
            "nested": [[1], [2], None, [1], [3], [4], [5], [6]],
        }
    )


def test_profile_is_json_ready_without_nan_or_inf():
    profile = profile_frame(_mixed())
    text = json.dumps(profile, allow_nan=False)
    assert json.loads(text) == profile
    assert profile["version"] == 1
    assert profile["rows"] == 8
    assert list(profile["columns"]) == list(_mixed().columns)


def test_numeric_column_format_and_values():
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, 10_000)
    values[:100] = np.nan
    values[100:105] = np.inf
    values[105:107] = -np.inf
    col = profile_frame(pd.DataFrame({"v": values}), bins=8)["columns"]["v"]
    finite = values[np.isfinite(values)]
    assert set(col) == {
        "type", "dtype", "count", "missing", "infinite", "min", "max", "mean", "std",
        "quantiles", "histogram",
    }  # fmt: skip
    assert col["type"] == "numeric"
    assert col["dtype"] == "float64"
    assert col["count"] == 9_900  # inf is a value, NaN is missing
    assert col["missing"] == pytest.approx(0.01)
    assert col["infinite"] == 7
    assert col["min"] == finite.min() and col["max"] == finite.max()
    assert col["mean"] == pytest.approx(finite.mean())
    assert col["std"] == pytest.approx(finite.std(ddof=1))
    assert list(col["quantiles"]) == QUANTILE_KEYS
    expected = np.quantile(finite, [float(k) for k in QUANTILE_KEYS])
    assert list(col["quantiles"].values()) == pytest.approx(list(expected))
    hist = col["histogram"]
    assert len(hist["edges"]) == 9 and len(hist["counts"]) == 8
    assert hist["edges"][0] == col["min"] and hist["edges"][-1] == col["max"]
    assert sum(hist["counts"]) == finite.size  # inf excluded
    assert all(type(v) is float for v in hist["edges"])
    assert all(type(v) is int for v in hist["counts"])


def test_integer_columns_keep_exact_min_and_max():
    col = profile_frame(_mixed())["columns"]["n"]
    assert col["type"] == "numeric"
    assert (col["min"], col["max"]) == (1, 2**60)
    assert type(col["min"]) is int
    assert col["count"] == 7 and col["infinite"] == 0


def test_undefined_statistics_are_none():
    df = pd.DataFrame({"empty": [np.nan, np.nan], "one": [5.0, np.nan], "flat": [2.0, 2.0]})
    cols = profile_frame(df)["columns"]
    assert cols["empty"]["mean"] is None
    assert cols["empty"]["histogram"] is None
    assert set(cols["empty"]["quantiles"].values()) == {None}
    assert cols["empty"]["missing"] == 1.0
    assert cols["one"]["std"] is None and cols["one"]["mean"] == 5.0
    flat = cols["flat"]["histogram"]  # a constant column gets the range [v - 0.5, v + 0.5]
    assert (flat["edges"][0], flat["edges"][-1]) == (1.5, 2.5)
    assert flat["counts"] == [0] * 10 + [2] + [0] * 9
    zero_rows = profile_frame(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    assert zero_rows["rows"] == 0
    assert zero_rows["columns"]["x"]["missing"] is None
    json.dumps(zero_rows, allow_nan=False)
    huge = profile_frame(pd.DataFrame({"x": [-1e308, 1e308]}))["columns"]["x"]
    assert huge["histogram"] is None and huge["min"] == -1e308
    assert huge["std"] is None  # overflows float64


def test_categorical_top_values_and_ties():
    col = profile_frame(_mixed(), top=2)["columns"]["city"]
    assert col["type"] == "categorical"
    assert col["count"] == 7 and col["missing"] == pytest.approx(1 / 8)
    assert col["unique"] == 4
    # Rome and Oslo lead; Bern and Lima tie at 1 and are folded into other_count.
    assert col["top"] == [{"value": "Oslo", "count": 3}, {"value": "Rome", "count": 2}]
    assert col["other_count"] == 2
    tie = profile_frame(pd.DataFrame({"t": ["z", "y", "x", "y", "z"]}), top=1)["columns"]["t"]
    assert tie["top"] == [{"value": "y", "count": 2}]  # ties: smallest text first
    assert tie["other_count"] == 3


def test_category_dtype_ignores_unused_categories():
    col = profile_frame(_mixed())["columns"]["cat"]
    assert col["type"] == "categorical"
    assert col["unique"] == 3
    assert col["top"][0] == {"value": "a", "count": 5}
    assert "unused" not in {t["value"] for t in col["top"]}


def test_top_values_are_truncated_and_profile_stays_compact():
    long_values = [f"{i:04d}" + "x" * 5_000 for i in range(50)]
    df = pd.DataFrame({"text": long_values * 3, "v": np.arange(150.0)})
    profile = profile_frame(df)
    top = profile["columns"]["text"]["top"]
    assert len(top) == 10
    assert all(len(t["value"]) == 200 and t["value"].endswith("…") for t in top)
    for column in profile["columns"].values():
        assert len(json.dumps(column)) < 4096


def test_boolean_datetime_and_other_columns():
    cols = profile_frame(_mixed())["columns"]
    assert cols["flag"] == {
        "type": "boolean", "dtype": "bool", "count": 8, "missing": 0.0,
        "true_count": 6, "false_count": 2,
    }  # fmt: skip
    assert (cols["maybe"]["true_count"], cols["maybe"]["false_count"]) == (4, 2)
    assert cols["maybe"]["missing"] == 0.25
    assert cols["when"]["type"] == "datetime"
    assert (cols["when"]["min"], cols["when"]["max"]) == (
        "2023-05-06T00:00:00",
        "2024-12-31T00:00:00",
    )
    assert cols["wait"] == {"type": "other", "dtype": "timedelta64[us]", "count": 8, "missing": 0.0}
    tz = pd.DataFrame({"t": pd.to_datetime(["2024-06-01 12:00"]).tz_localize("Europe/Oslo")})
    assert profile_frame(tz)["columns"]["t"]["max"] == "2024-06-01T12:00:00+02:00"


def test_arrow_tables_and_series_are_accepted():
    table = pa.table({"a": [1.0, 2.0], "s": ["x", None]})
    profile = profile_frame(table)
    assert profile["columns"]["a"]["mean"] == 1.5
    assert profile["columns"]["s"]["type"] == "categorical"
    assert profile_frame(pd.Series([True, False], name="b"))["columns"]["b"]["true_count"] == 1


def test_bad_arguments_are_refused():
    df = pd.DataFrame({"a": [1]})
    for bad in ({"bins": 0}, {"bins": 2.5}, {"top": -1}, {"bins": True}):
        with pytest.raises(InvalidArgument):
            profile_frame(df, **bad)
    with pytest.raises(InvalidArgument, match="duplicate"):
        profile_frame(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidArgument, match=r"cannot profile an object of type builtins\.list"):
        profile_frame([1, 2])


def test_arrow_integers_with_nulls_stay_exact():
    table = pa.table(
        {
            "big": pa.array([1, None, 2**60 + 1]),
            "x": [1.5, 2.0, 3.0],
            "small": pa.array([1, None, 3], type=pa.uint8()),
            "plain": [1, 2, 3],
        }
    )
    cols = profile_frame(table)["columns"]
    assert list(cols) == ["big", "x", "small", "plain"]
    assert (cols["big"]["dtype"], cols["big"]["max"]) == ("Int64", 2**60 + 1)
    assert (cols["small"]["dtype"], cols["small"]["missing"]) == ("UInt8", 1 / 3)
    assert cols["plain"]["dtype"] == "int64"
