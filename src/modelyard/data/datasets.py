"""Describing any dataset a run reads or writes: :func:`describe_dataset`.

One function takes what users hold — a pandas DataFrame or Series, a polars DataFrame, a
pyarrow Table, a numpy array, a list of dicts, or a path to a file or folder — and returns a
:class:`DatasetInfo`: the digest that identifies it, its shape, schema and profile. Tables are
identified by their content (see :mod:`modelyard.data.frames`), files and folders by their bytes
(see :mod:`modelyard.data.files`). CSV (``.csv``, ``.csv.gz``) and Parquet (``.parquet``,
``.pq``) files up to :data:`MAX_READ_BYTES` are also read for their rows, schema and profile.

>>> import pandas as pd
>>> describe_dataset(pd.DataFrame({"x": [1, 2, 3]})).rows
3
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.data.files import digest_path
from modelyard.data.frames import (
    arrow_schema,
    digest_array,
    digest_table,
    is_arrow_table,
    is_polars_frame,
    to_arrow,
)
from modelyard.data.info import DatasetInfo
from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np

    from modelyard.data.stat_cache import StatCache

__all__ = ["MAX_READ_BYTES", "TABLE_SUFFIXES", "describe_dataset"]

MAX_READ_BYTES = 512 * 1024 * 1024
TABLE_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}

_ACCEPTED = (
    "a pandas DataFrame or Series, a polars DataFrame, a pyarrow Table, a numpy ndarray, "
    "a list of dicts, or a str/Path to a file or folder"
)


def describe_dataset(
    obj: object,
    *,
    stat_cache: StatCache | None = None,
    profile: bool = True,
    max_read_bytes: int = MAX_READ_BYTES,
) -> DatasetInfo:
    """Digest, shape, schema and (unless ``profile=False``) profile of ``obj``.

    ``stat_cache`` lets files and folders skip re-hashing files whose stat is unchanged;
    CSV/Parquet files larger than ``max_read_bytes`` are digested but not read.

    >>> info = describe_dataset("data/train.parquet", stat_cache=StatCache("cache.sqlite"))
    ... # doctest: +SKIP
    >>> info.kind, info.rows, info.schema[0]                        # doctest: +SKIP
    ('file', 1000, {'name': 'age', 'type': 'int64', 'nullable': False})
    """
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if isinstance(obj, (str, os.PathLike)):
        return _describe_path(obj, stat_cache, profile, max_read_bytes)
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        return _describe_table(to_arrow(obj), obj, profile)
    if is_arrow_table(obj) or is_polars_frame(obj):
        return _describe_table(to_arrow(obj), None, profile)
    if np is not None and isinstance(obj, np.ndarray):
        return _describe_array(obj, profile)
    if isinstance(obj, list):
        return _describe_records(obj, profile)
    raise InvalidArgument(
        f"cannot describe a dataset of type {type(obj).__module__}.{type(obj).__qualname__}",
        hint=f"pass {_ACCEPTED}",
    )


def _describe_table(table: Any, frame: Any, profile: bool) -> DatasetInfo:
    from modelyard.data.profiles import profile_frame

    digest, size = digest_table(table)
    stats = None
    if profile:
        stats = profile_frame(frame if frame is not None else table)
    return DatasetInfo(
        digest=digest,
        kind="dataframe",
        rows=int(table.num_rows),
        columns=int(table.num_columns),
        size_bytes=size,
        schema=arrow_schema(table),
        profile=stats,
        manifest=None,
        source=None,
    )


def _describe_records(records: list[Any], profile: bool) -> DatasetInfo:
    import pandas as pd

    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidArgument(
                f"a list dataset must hold dicts (one per row), but item {i} is a "
                f"{type(record).__name__}",
                hint="pass a list of dicts, or a numpy array / DataFrame",
            )
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return _describe_table(to_arrow(frame), frame, profile)


def _describe_array(arr: np.ndarray[Any, Any], profile: bool) -> DatasetInfo:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    digest = digest_array(arr)
    rows = int(arr.shape[0]) if arr.ndim >= 1 else None
    columns = None
    if arr.ndim == 1:
        columns = 1
    elif arr.ndim == 2:
        columns = int(arr.shape[1])
    schema = None
    stats = None
    # 1-D and 2-D arrays of plain dtypes are tables: column "0", "1", ... (no structured dtypes).
    if columns is not None and arr.dtype.names is None:
        table2d = arr.reshape(len(arr), columns)
        try:
            arrow_type = str(pa.from_numpy_dtype(arr.dtype))
        except (pa.ArrowException, NotImplementedError):
            arrow_type = str(arr.dtype)
        if arr.dtype.kind in "fc":
            nullable = np.isnan(table2d).any(axis=0).tolist()
        else:
            nullable = [False] * columns
        names = [str(i) for i in range(columns)]
        schema = [
            {"name": name, "type": arrow_type, "nullable": bool(nan)}
            for name, nan in zip(names, nullable, strict=True)
        ]
        if profile:
            from modelyard.data.profiles import profile_frame

            stats = profile_frame(pd.DataFrame(table2d, columns=names, copy=False))
    return DatasetInfo(
        digest=digest,
        kind="ndarray",
        rows=rows,
        columns=columns,
        size_bytes=int(arr.nbytes),
        schema=schema,
        profile=stats,
        manifest=None,
        source=None,
    )


def _table_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in TABLE_SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def _read_table(path: Path, fmt: str) -> Any:
    import pyarrow as pa

    try:
        if fmt == "csv":
            from pyarrow import csv

            return csv.read_csv(path)
        from pyarrow import parquet

        return parquet.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        return exc


def _describe_path(
    path: str | os.PathLike[str],
    stat_cache: StatCache | None,
    profile: bool,
    max_read_bytes: int = MAX_READ_BYTES,
) -> DatasetInfo:
    source = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    digest, size, manifest = digest_path(source, stat_cache=stat_cache)
    info = DatasetInfo(
        digest=digest,
        kind="file" if manifest is None else "folder",
        rows=None,
        columns=None,
        size_bytes=size,
        schema=None,
        profile=None,
        manifest=manifest,
        source=str(source),
    )
    fmt = _table_format(source) if manifest is None else None
    if fmt is None:
        return info
    if size > max_read_bytes:
        note = (
            f"{fmt} file of {size} bytes is larger than {max_read_bytes} bytes: "
            "digest only, not read for schema or profile"
        )
        return replace(info, note=note)
    table = _read_table(source, fmt)
    if isinstance(table, Exception):
        return replace(info, note=f"could not be read as {fmt}: {table}")
    from modelyard.data.profiles import profile_frame

    table = to_arrow(table)
    return replace(
        info,
        rows=int(table.num_rows),
        columns=int(table.num_columns),
        schema=arrow_schema(table),
        profile=profile_frame(table) if profile else None,
    )
