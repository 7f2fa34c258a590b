"""BLAKE3 content digests: the one way Modelyard names bytes.

A digest is 64 lowercase hex characters (BLAKE3, 256 bits) of the exact bytes. Files are read
in chunks, never whole. Artifacts, datasets and environment locks all use these helpers.

>>> digest_bytes(b"abc")[:16]
'6437b3ac38465133'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["CHUNK_SIZE", "DIGEST_RE", "digest_bytes", "digest_chunks", "digest_file", "hasher"]

CHUNK_SIZE = 1 << 20
DIGEST_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def hasher() -> Any:
    """A fresh BLAKE3 hasher (``.update(bytes)``, ``.hexdigest()``)."""
    from blake3 import blake3

    return blake3()


def digest_bytes(data: bytes) -> str:
    """Digest of ``data``."""
    h = hasher()
    h.update(data)
    return str(h.hexdigest())


def digest_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """Digest and total size of a stream of chunks."""
    h = hasher()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return str(h.hexdigest()), size


def _read_chunks(fileobj: BinaryIO) -> Iterable[bytes]:
    while chunk := fileobj.read(CHUNK_SIZE):
        yield chunk


def digest_file(path: str | Path) -> tuple[str, int]:
    """Digest and size of the file at ``path``, read in 1 MiB chunks."""
    with open(path, "rb") as fileobj:
        return digest_chunks(_read_chunks(fileobj))
