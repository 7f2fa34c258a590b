"""Artifacts: a content-addressed blob store over fsspec (a local folder or S3).

Blobs are named by the BLAKE3 digest of their bytes and kept under
``<root>/objects/<d[0:2]>/<d[2:4]>/<digest>``, so equal bytes are stored once and every read is
verified. Run-relative logical names (``plots/confusion.png``) pass through
:func:`validate_artifact_path`. Importing this package is light: fsspec, s3fs and blake3 load
on first use.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     store = open_artifact_store(folder)
...     store.get_bytes(store.put_bytes(b"weights").digest)
b'weights'
"""

from __future__ import annotations

from modelyard.artifacts.paths import validate_artifact_path
from modelyard.artifacts.store import ArtifactStore, Blob, open_artifact_store

__all__ = ["ArtifactStore", "Blob", "open_artifact_store", "validate_artifact_path"]
