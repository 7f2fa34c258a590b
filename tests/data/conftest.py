"""Fixtures for the dataset tests: files with old modification times."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Well outside the stat cache's two-second "racy" window.
OLD_NS = time.time_ns() - 3600 * 1_000_000_000


def _backdate(*paths: Path, ns: int = OLD_NS) -> None:
    for path in paths:
        os.utime(path, ns=(ns, ns))


@pytest.fixture
def backdate() -> Callable[..., None]:
    """Set the mtime of files to an hour ago, so the stat cache will remember them."""
    return _backdate


@pytest.fixture
def write_folder(backdate: Callable[..., None]) -> Callable[[Path, dict[str, bytes]], Path]:
    """Write ``{relpath: bytes}`` under a folder, with old mtimes; returns the folder."""

    def write(root: Path, files: dict[str, bytes]) -> Path:
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            backdate(path)
        return root

    return write
