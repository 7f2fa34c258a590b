"""Marker files that count how often a step really ran (imported by steps and test scripts)."""

from __future__ import annotations

import os
from pathlib import Path


def mark(folder: str, name: str) -> None:
    """Append one line to ``folder/name``: one line per execution of a step."""
    with open(os.path.join(folder, name), "a", encoding="utf-8") as fileobj:
        fileobj.write(f"{os.getpid()}\n")


def count(folder: str | Path, name: str) -> int:
    """How many times ``mark(folder, name)`` was called."""
    path = Path(folder) / name
    return len(path.read_text().splitlines()) if path.exists() else 0
