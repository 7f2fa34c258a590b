"""The result of describing a dataset: :class:`DatasetInfo`.

A :class:`DatasetInfo` is what Modelyard records about one dataset a run read or wrote: its
content digest (its identity), what kind of object it was, its shape, the Arrow schema, a compact
statistical profile and, for folders, the Merkle manifest of its files. Every field is a plain
value (str, int, list, dict, None), so ``to_dict()`` is JSON-ready and two infos compare equal
exactly when they describe the same thing.

>>> info = DatasetInfo(digest="0" * 64, kind="file", rows=None, columns=None, size_bytes=3,
...                    schema=None, profile=None, manifest=None, source="/tmp/x.bin")
>>> info.to_dict()["kind"]
'file'
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["DATASET_KINDS", "DatasetInfo"]

DATASET_KINDS = ("dataframe", "ndarray", "file", "folder")


@dataclass(frozen=True)
class DatasetInfo:
    """Identity, shape, schema and profile of one dataset.

    ``digest`` is 64 hex characters of BLAKE3; ``kind`` is one of ``"dataframe"``,
    ``"ndarray"``, ``"file"`` or ``"folder"``; ``size_bytes`` counts the bytes that were hashed
    (file sizes for files and folders, the canonical serialized size for frames and arrays).
    ``schema`` is ``[{"name", "type", "nullable"}]`` with Arrow type strings; ``profile`` follows
    the format in ``docs/data.md``; ``manifest`` (folders only) is
    ``[{"path", "digest", "size"}]`` sorted by path; ``source`` is the absolute path of a file or
    folder. ``note`` says why something is missing, e.g. a CSV too big to profile.
    """

    digest: str
    kind: str
    rows: int | None
    columns: int | None
    size_bytes: int | None
    schema: list[dict[str, Any]] | None
    profile: dict[str, Any] | None
    manifest: list[dict[str, Any]] | None
    source: str | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready deep copy of every field."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}
