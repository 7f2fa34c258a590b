"""Content digests of tables and arrays: every row, through one canonical Arrow form.

A table (pandas DataFrame or Series, pyarrow Table, polars DataFrame) is converted to Arrow;
its schema metadata is dropped (pandas writes its own version there), large/view string and
binary types become plain ``string``/``binary``, chunks are combined, the bytes Arrow leaves
undefined (bitmap padding, values under nulls, a slice's parent buffer) are zeroed, and the
Arrow IPC stream of that table is fed straight into a BLAKE3 hasher, buffer by buffer, without
building one big bytes object. A default pandas index (an unnamed ``RangeIndex``, or an unnamed
integer index equal to ``0..n-1``) is dropped; any other index is kept as a column. So the
digest changes with any cell, column name, column order, Arrow type or row order, and does not
change with the pandas version, the chunk layout or the string storage. An ndarray is digested
as its ``.npy`` dtype descriptor, its shape and its C-ordered bytes.

>>> import pandas as pd
>>> digest_dataframe(pd.DataFrame({"x": [1, 2]})) == digest_dataframe(pd.DataFrame({"x": [1, 2]}))
True
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from modelyard._digest import hasher
from modelyard.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "arrow_schema",
    "canonical_table",
    "digest_array",
    "digest_dataframe",
    "digest_table",
    "to_arrow",
]

_TABLE_HEADER = b"modelyard-table-v1\n"
_ARRAY_HEADER = b"modelyard-ndarray-v1\n"
_SMALL_OFFSETS_LIMIT = 2**31 - 1


class _HashSink:
    """A write-only file object that hashes what is written to it."""

    def __init__(self) -> None:
        self.hasher = hasher()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hasher.update(view)
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def is_polars_frame(obj: object) -> bool:
    """True for a polars DataFrame (checked without importing polars)."""
    module = type(obj).__module__ or ""
    return module.split(".")[0] == "polars" and type(obj).__name__ == "DataFrame"


def is_arrow_table(obj: object) -> bool:
    """True for a pyarrow Table (checked without importing pyarrow)."""
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(obj, pa.Table)


def _default_index(df: pd.DataFrame) -> bool:
    import pandas as pd

    index = df.index
    if index.name is not None or index.nlevels != 1:
        return False
    if isinstance(index, pd.RangeIndex):
        return True
    if not pd.api.types.is_integer_dtype(index):
        return False
    return bool(index.equals(pd.RangeIndex(len(index))))


def to_arrow(obj: object) -> Any:
    """The canonical Arrow table of a pandas DataFrame/Series, pyarrow Table or polars frame.

    Raises :class:`InvalidArgument` for anything else or a frame Arrow cannot represent.
    """
    import pyarrow as pa

    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if pd is not None and isinstance(obj, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(obj, preserve_index=not _default_index(obj))
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"DataFrame cannot be converted to Arrow: {exc}",
                hint="convert the columns Arrow cannot hold (mixed types, complex numbers), "
                "e.g. df['col'] = df['col'].astype(str), and give every column a unique name",
            ) from exc
    elif isinstance(obj, pa.Table):
        table = obj
    elif is_polars_frame(obj):
        table = obj.to_arrow()  # type: ignore[attr-defined]
    else:
        raise InvalidArgument(
            f"cannot digest an object of type {type(obj).__module__}.{type(obj).__qualname__} "
            "as a table",
            hint="pass a pandas DataFrame or Series, a pyarrow Table or a polars DataFrame",
        )
    return canonical_table(table)


def _canonical_type(pa: Any, typ: Any) -> Any:
    if pa.types.is_dictionary(typ):
        value_type = _canonical_type(pa, typ.value_type)
        return pa.dictionary(typ.index_type, value_type, ordered=typ.ordered)
    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
        return pa.binary()
    return typ


def canonical_table(table: Any) -> Any:
    """``table`` without metadata, with plain string/binary types and one chunk per column."""
    import pyarrow as pa

    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidArgument(
            f"table has duplicate column names {dupes}",
            hint="give every column a unique name before logging the table",
        )
    columns = []
    fields = []
    for column, field in zip(table.columns, table.schema, strict=True):
        typ = _canonical_type(pa, field.type)
        # Text over 2 GiB in one column needs 64-bit offsets: it keeps its large type.
        if typ != field.type and column.nbytes < _SMALL_OFFSETS_LIMIT:
            column = column.cast(typ)
        columns.append(column)
        # A fresh field: no field metadata, only name, type and the nullable flag.
        fields.append(pa.field(field.name, column.type, nullable=field.nullable))
    table = pa.Table.from_arrays(columns, schema=pa.schema(fields)).combine_chunks()
    cleaned = [
        pa.chunked_array([_clean_array(chunk) for chunk in column.chunks], type=column.type)
        for column in table.columns
    ]
    return pa.Table.from_arrays(cleaned, schema=table.schema)


def _clean_array(arr: Any) -> Any:
    """``arr`` with the bytes Arrow leaves undefined set to zero, so only content is hashed.

    Arrow allows garbage in the padding bits of bitmaps and in the value slots under nulls, and
    writes a sliced array with its parent's whole value buffer; different producers (pandas,
    pyarrow, polars) fill them differently. Top-level columns are normalised: a copy without
    offset, bitmaps rebuilt with zero padding, zeros under nulls for fixed-width types.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if arr.offset:
        arr = pa.concat_arrays([arr])
    typ = arr.type
    n = len(arr)
    if not (arr.null_count or pa.types.is_boolean(typ)):
        return arr

    def bitmap(bits: Any) -> Any:
        return pa.py_buffer(np.packbits(bits.to_numpy(zero_copy_only=False), bitorder="little"))

    validity = bitmap(pc.is_valid(arr)) if arr.null_count else None
    if pa.types.is_boolean(typ):
        values = bitmap(pc.fill_null(arr, False))
        return pa.Array.from_buffers(typ, n, [validity, values], null_count=arr.null_count)
    fixed = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)
    if fixed or pa.types.is_temporal(typ):
        width = typ.bit_width // 8
        data = np.frombuffer(arr.buffers()[1], dtype=np.uint8, count=n * width).reshape(n, width)
        data = data.copy()
        data[~pc.is_valid(arr).to_numpy(zero_copy_only=False)] = 0
        return pa.Array.from_buffers(
            typ, n, [validity, pa.py_buffer(data)], null_count=arr.null_count
        )
    if (
        pa.types.is_string(typ)
        or pa.types.is_binary(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_large_binary(typ)
    ):
        buffers = [validity, *arr.buffers()[1:]]
        return pa.Array.from_buffers(typ, n, buffers, null_count=arr.null_count)
    return arr  # nested and dictionary types: written as Arrow holds them


def digest_table(table: Any) -> tuple[str, int]:
    """Digest and byte count of the IPC stream of a canonical Arrow table (see :func:`to_arrow`)."""
    import pyarrow as pa

    sink = _HashSink()
    sink.write(_TABLE_HEADER)
    options = pa.ipc.IpcWriteOptions(metadata_version=pa.ipc.MetadataVersion.V5)
    with (
        pa.PythonFile(sink, mode="w") as stream,
        pa.ipc.new_stream(stream, table.schema, options=options) as writer,
    ):
        for batch in table.to_batches():
            if batch.num_rows:
                writer.write_batch(batch)
    return str(sink.hasher.hexdigest()), sink.size


def digest_dataframe(df: object) -> str:
    """Digest of every row of a pandas DataFrame/Series, pyarrow Table or polars DataFrame.

    >>> import pandas as pd
    >>> len(digest_dataframe(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})))
    64
    """
    return digest_table(to_arrow(df))[0]


def _check_array(arr: np.ndarray[Any, Any]) -> None:
    if arr.dtype.hasobject:
        raise InvalidArgument(
            f"ndarray of dtype {arr.dtype} holds Python objects, whose bytes are pointers, "
            "not content",
            hint="convert it to a fixed dtype (arr.astype(str) or arr.astype(float)) "
            "or log it as a pandas DataFrame",
        )


def digest_array(arr: np.ndarray[Any, Any]) -> str:
    """Digest of a numpy array: its dtype descriptor, its shape and its C-ordered bytes.

    >>> import numpy as np
    >>> digest_array(np.arange(3)) == digest_array(np.arange(3))
    True
    """
    import numpy as np

    if not isinstance(arr, np.ndarray):
        raise InvalidArgument(
            f"expected a numpy ndarray, got {type(arr).__module__}.{type(arr).__qualname__}",
            hint="pass np.asarray(obj)",
        )
    if arr.dtype.hasobject:
        raise InvalidArgument(
            f"ndarray of dtype {arr.dtype} holds Python objects, whose bytes are pointers, "
            "not content",
            hint="convert it to a fixed dtype (arr.astype(str) or arr.astype(float)) "
            "or log it as a pandas DataFrame",
        )
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    h = hasher()
    h.update(_ARRAY_HEADER)
    h.update(f"{descr!r}\n{tuple(int(n) for n in arr.shape)!r}\n".encode())
    data = np.ascontiguousarray(arr)
    if data.nbytes:
        h.update(data.reshape(-1).view(np.uint8))
    return str(h.hexdigest())


def arrow_schema(table: Any) -> list[dict[str, Any]]:
    """``[{"name", "type", "nullable"}]`` of an Arrow table.

    ``nullable`` is true when the column holds at least one missing value (Arrow's own flag is
    always true for frames converted from pandas, so it would say nothing).
    """
    return [
        {
            "name": field.name,
            "type": str(field.type),
            "nullable": bool(column.null_count > 0),
        }
        for field, column in zip(table.schema, table.columns, strict=True)
    ]
