"""describe_dataset: every accepted kind of object, and a clear error for the rest."""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard._digest import DIGEST_RE, digest_file
from modelyard.data import DatasetInfo, describe_dataset, digest_dataframe
from modelyard.errors import InvalidArgument

SRC = Path(__file__).resolve().parents[2] / "src"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"age": [31, 45, 27], "income": [52.5, None, 88.25], "city": ["Oslo", "Rome", "Oslo"]}
    )


def test_dataframe_info():
    info = describe_dataset(_frame())
    assert isinstance(info, DatasetInfo)
    assert info.kind == "dataframe"
    assert DIGEST_RE.match(info.digest) and info.digest == digest_dataframe(_frame())
    assert (info.rows, info.columns) == (3, 3)
    assert info.schema == [
        {"name": "age", "type": "int64", "nullable": False},
        {"name": "income", "type": "double", "nullable": True},
        {"name": "city", "type": "string", "nullable": False},
    ]
    assert info.profile is not None and info.profile["columns"]["age"]["mean"] == pytest.approx(
        103 / 3
    )
    assert (info.manifest, info.source, info.note) == (None, None, None)
    assert info.size_bytes and info.size_bytes > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.rows = 4  # type: ignore[misc]
    as_dict = info.to_dict()
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    assert as_dict["digest"] == info.digest


def test_profile_can_be_skipped():
    info = describe_dataset(_frame(), profile=False)
    assert info.profile is None
    assert info.digest == describe_dataset(_frame()).digest


def test_series_records_and_arrow_tables_are_dataframes():
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    from_records = describe_dataset(records)
    assert from_records.kind == "dataframe"
    assert from_records.digest == digest_dataframe(pd.DataFrame(records))
    table = pa.table({"a": [1, 2], "b": ["x", None]})
    assert describe_dataset(table).digest == from_records.digest
    series = describe_dataset(pd.Series([1.0, 2.0], name="y"))
    assert (series.kind, series.columns, series.schema[0]["name"]) == ("dataframe", 1, "y")
    empty = describe_dataset([])
    assert (empty.rows, empty.columns) == (0, 0)
    with pytest.raises(InvalidArgument, match="item 1 is a int"):
        describe_dataset([{"a": 1}, 2])


def test_polars_frame():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", None]})
    info = describe_dataset(frame)
    assert info.kind == "dataframe"
    assert info.digest == describe_dataset(pa.table({"a": [1, 2], "b": ["x", None]})).digest
    assert info.profile["columns"]["b"]["top"] == [{"value": "x", "count": 1}]


def test_ndarray_info():
    arr = np.arange(12, dtype=np.float64).reshape(4, 3)
    arr[1, 2] = np.nan
    info = describe_dataset(arr)
    assert (info.kind, info.rows, info.columns, info.size_bytes) == ("ndarray", 4, 3, 96)
    assert info.schema == [
        {"name": "0", "type": "double", "nullable": False},
        {"name": "1", "type": "double", "nullable": False},
        {"name": "2", "type": "double", "nullable": True},
    ]
    assert info.profile["columns"]["2"]["missing"] == 0.25
    vector = describe_dataset(np.array([1, 2, 3], dtype=np.int32))
    assert (vector.rows, vector.columns, vector.schema[0]["type"]) == (3, 1, "int32")
    images = describe_dataset(np.zeros((5, 4, 4, 3), dtype=np.uint8))
    assert (images.rows, images.columns, images.schema, images.profile) == (5, None, None, None)
    with pytest.raises(InvalidArgument, match="Python objects"):
        describe_dataset(np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("obj", [42, {"a": [1, 2]}, (1, 2), b"bytes", None])
def test_unsupported_objects_are_refused_with_the_accepted_list(obj):
    with pytest.raises(InvalidArgument) as exc:
        describe_dataset(obj)
    assert f"builtins.{type(obj).__qualname__}" in exc.value.message
    assert "pandas DataFrame" in exc.value.hint and "numpy ndarray" in exc.value.hint


def test_csv_file_is_digested_and_read(tmp_path):
    path = tmp_path / "train.csv"
    _frame().to_csv(path, index=False)
    info = describe_dataset(path)
    assert info.kind == "file"
    assert (info.digest, info.size_bytes) == digest_file(path)
    assert info.source == str(path)
    assert (info.rows, info.columns) == (3, 3)
    assert [c["type"] for c in info.schema] == ["int64", "double", "string"]
    assert info.profile["columns"]["city"]["top"][0] == {"value": "Oslo", "count": 2}
    assert info.note is None


def test_gzipped_csv_and_parquet(tmp_path):
    gz = tmp_path / "train.csv.gz"
    gz.write_bytes(gzip.compress(_frame().to_csv(index=False).encode()))
    info = describe_dataset(gz)
    assert (info.rows, info.columns) == (3, 3)
    assert info.digest == digest_file(gz)[0]
    parquet = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(), preserve_index=False), parquet)
    pinfo = describe_dataset(parquet)
    assert pinfo.digest == digest_file(parquet)[0]  # a file is its bytes ...
    assert pinfo.digest != describe_dataset(_frame()).digest  # ... not its table content
    assert pinfo.schema == describe_dataset(_frame()).schema
    assert pinfo.profile == describe_dataset(_frame()).profile
    assert describe_dataset(parquet, profile=False).profile is None


def test_other_files_get_digest_and_size_only(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00\x01" * 100)
    info = describe_dataset(str(path))
    assert (info.kind, info.size_bytes, info.rows, info.schema, info.profile) == (
        "file", 200, None, None, None,
    )  # fmt: skip


def test_unreadable_or_huge_tables_are_digested_with_a_note(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    info = describe_dataset(broken)
    assert info.digest == digest_file(broken)[0]
    assert info.profile is None and "could not be read as parquet" in info.note
    big = tmp_path / "big.csv"
    _frame().to_csv(big, index=False)
    info = describe_dataset(big, max_read_bytes=10)
    assert info.digest == digest_file(big)[0]
    assert (info.rows, info.profile) == (None, None)
    assert "larger than 10 bytes" in info.note


def test_importing_the_package_stays_light():
    code = (
        "import sys, modelyard.data; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'blake3') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
