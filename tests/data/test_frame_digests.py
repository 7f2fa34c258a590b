"""Content digests of DataFrames, Arrow tables and numpy arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelyard._digest import DIGEST_RE
from modelyard.data import describe_dataset, digest_array, digest_dataframe
from modelyard.errors import InvalidArgument


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 27, 60],
            "income": [52.5, 71.0, np.nan, 88.25],
            "city": ["Oslo", "Rome", None, "Oslo"],
            "member": [True, False, True, True],
        }
    )


def test_same_content_gives_same_digest():
    first, second = digest_dataframe(_frame()), digest_dataframe(_frame())
    assert DIGEST_RE.match(first)
    assert first == second


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda df: df.assign(income=df["income"].replace(71.0, 71.5)), id="cell"),
        pytest.param(lambda df: df.rename(columns={"age": "years"}), id="column-name"),
        pytest.param(lambda df: df.astype({"age": "float64"}), id="dtype"),
        pytest.param(lambda df: df.astype({"age": "int32"}), id="int-width"),
        pytest.param(lambda df: df.iloc[::-1].reset_index(drop=True), id="row-order"),
        pytest.param(lambda df: df[["city", "age", "income", "member"]], id="column-order"),
        pytest.param(lambda df: df.iloc[:3], id="fewer-rows"),
        pytest.param(lambda df: df.assign(city=df["city"].fillna("")), id="null-vs-empty"),
        pytest.param(lambda df: df.set_index(pd.Index(list("abcd"))), id="custom-index"),
    ],
)
def test_any_change_changes_the_digest(change):
    assert digest_dataframe(change(_frame())) != digest_dataframe(_frame())


def test_default_index_is_dropped_and_custom_index_kept():
    df = pd.DataFrame({"x": range(10)})
    sliced = df.iloc[3:]  # RangeIndex(3, 10)
    assert digest_dataframe(sliced) == digest_dataframe(sliced.reset_index(drop=True))
    # An unnamed integer index equal to 0..n-1 is the default index too.
    shuffled_back = df.sample(frac=1.0, random_state=0).sort_index()
    assert not isinstance(shuffled_back.index, pd.RangeIndex)
    assert digest_dataframe(shuffled_back) == digest_dataframe(df)
    named = df.set_index(pd.Index(range(10), name="id"))
    assert digest_dataframe(named) != digest_dataframe(df)


def test_pandas_metadata_and_chunking_do_not_matter():
    df = _frame()
    table = pa.Table.from_pandas(df, preserve_index=False)
    assert table.schema.metadata  # pandas writes its version here ...
    assert digest_dataframe(table) == digest_dataframe(df)  # ... and the digest ignores it
    plain = table.replace_schema_metadata(None)
    assert digest_dataframe(plain) == digest_dataframe(df)
    other = table.replace_schema_metadata({b"pandas": b'{"pandas_version": "99.0"}'})
    assert digest_dataframe(other) == digest_dataframe(df)
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 2), table.slice(3)])
    assert chunked.column(0).num_chunks == 3
    assert digest_dataframe(chunked) == digest_dataframe(df)


def test_string_storage_does_not_matter():
    as_object = pd.DataFrame({"s": pd.Series(["a", None, "c"], dtype=object)})
    as_str = pd.DataFrame({"s": pd.Series(["a", None, "c"], dtype="str")})
    large = pa.table({"s": pa.array(["a", None, "c"], type=pa.large_string())})
    small = pa.table({"s": pa.array(["a", None, "c"], type=pa.string())})
    digests = {digest_dataframe(x) for x in (as_object, as_str, large, small)}
    assert len(digests) == 1


def test_series_digests_like_its_frame():
    s = pd.Series([1.5, 2.5], name="y")
    assert digest_dataframe(s) == digest_dataframe(s.to_frame())


def test_sliced_arrow_arrays_digest_by_content():
    table = pa.table({"b": [True, False, True] * 5, "s": ["x", "yy", None] * 5})
    assert digest_dataframe(table.slice(3, 7)) == digest_dataframe(
        pa.table({"b": table["b"].to_pylist()[3:10], "s": table["s"].to_pylist()[3:10]})
    )
    # pandas 3 keeps strings in Arrow: a sliced frame holds sliced Arrow arrays.
    df = pd.DataFrame({"s": pd.Series(["x", "yy", None] * 5, dtype="str")})
    fresh = pd.DataFrame({"s": pd.Series((["x", "yy", None] * 5)[4:], dtype="str")})
    assert digest_dataframe(df.iloc[4:]) == digest_dataframe(fresh)


def test_known_digest_is_stable():
    # If this fails, the canonical byte format changed and every recorded dataset digest with
    # it: bump the format header in frames.py and say so in the changelog.
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    assert digest_dataframe(df) == _KNOWN_FRAME_DIGEST
    assert digest_array(np.arange(6, dtype="<i8").reshape(2, 3)) == _KNOWN_ARRAY_DIGEST


_KNOWN_FRAME_DIGEST = "7e1e8f15256cffb88fef245aa0192bc40f2dce28264705be4d46ddab316905be"
_KNOWN_ARRAY_DIGEST = "b8c938d1487f56297e021635930d3e88caa9a47503a79504cdbae8d71299a595"


def test_unconvertible_frames_are_refused_with_a_hint():
    with pytest.raises(InvalidArgument, match=r"(?i)duplicate column names") as exc:
        digest_dataframe(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    assert exc.value.hint
    with pytest.raises(InvalidArgument, match="cannot be converted to Arrow") as exc:
        digest_dataframe(pd.DataFrame({"mixed": [1, "two", 3.0]}))
    assert "astype(str)" in (exc.value.hint or "")
    with pytest.raises(InvalidArgument, match=r"builtins\.dict"):
        digest_dataframe({"a": [1]})


def test_array_digest_depends_on_dtype_shape_and_bytes():
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    base = digest_array(arr)
    assert DIGEST_RE.match(base)
    assert digest_array(arr.copy()) == base
    assert digest_array(arr.astype(np.int32)) != base
    assert digest_array(arr.reshape(4, 3)) != base
    assert digest_array(arr.reshape(-1)) != base
    changed = arr.copy()
    changed[2, 3] = -1
    assert digest_array(changed) != base


def test_array_memory_layout_does_not_matter():
    arr = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert digest_array(np.asfortranarray(arr)) == digest_array(arr)
    strided = arr[:, ::2]
    assert not strided.flags.c_contiguous
    assert digest_array(strided) == digest_array(strided.copy())


def test_object_arrays_are_refused():
    with pytest.raises(InvalidArgument, match="Python objects") as exc:
        digest_array(np.array(["a", 1], dtype=object))
    assert "astype" in (exc.value.hint or "")
    with pytest.raises(InvalidArgument, match="expected a numpy ndarray"):
        digest_array([1, 2, 3])  # type: ignore[arg-type]


def test_size_bytes_counts_the_hashed_stream():
    df = pd.DataFrame({"x": np.arange(100_000, dtype=np.float64)})
    info = describe_dataset(df, profile=False)
    assert 800_000 < info.size_bytes < 802_000
    arr = np.zeros((10, 10), dtype=np.float32)
    assert describe_dataset(arr, profile=False).size_bytes == 400


def test_undefined_arrow_bytes_do_not_matter():
    # Arrow leaves bitmap padding bits and the values under nulls undefined; producers differ.
    clean = pa.array([7, None, 9], type=pa.int64())
    messy = pa.Array.from_buffers(
        pa.int64(),
        3,
        [pa.py_buffer(b"\xfd"), pa.py_buffer(np.array([7, 12345, 9], dtype=np.int64).tobytes())],
        null_count=1,
    )
    assert messy.to_pylist() == clean.to_pylist()
    assert digest_dataframe(pa.table({"x": messy})) == digest_dataframe(pa.table({"x": clean}))
    flags = pa.array([True, False, True])
    messy_flags = pa.Array.from_buffers(pa.bool_(), 3, [None, pa.py_buffer(b"\xf5")])
    assert messy_flags.to_pylist() == flags.to_pylist()
    assert digest_dataframe(pa.table({"b": messy_flags})) == digest_dataframe(
        pa.table({"b": flags})
    )
    # pandas marks missing floats with NaN under the null; Arrow writes zeros there.
    nan_frame = pd.DataFrame({"x": [1.0, np.nan, 3.0]})
    assert digest_dataframe(nan_frame) == digest_dataframe(pa.table({"x": [1.0, None, 3.0]}))
