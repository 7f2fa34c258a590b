"""Fixtures for pipeline tests: a marker folder, and the environment of child processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def markers(tmp_path: Path) -> str:
    folder = tmp_path / "markers"
    folder.mkdir()
    return str(folder)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for child Python processes: this checkout's src first on the path."""
    src = str(TESTS.parent.parent / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONPATH"] = os.pathsep.join([src, str(TESTS)])
    env["OMP_NUM_THREADS"] = "1"
    return env
