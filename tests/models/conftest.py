"""Fixtures for the model tests: small training frames and a client on a SQLite store.

Models stay tiny (200 rows, a few trees, one thread) so every test file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def frame() -> pd.DataFrame:
    """200 rows of four numeric features, fixed seed."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(200, 4)), columns=["age", "income", "tenure", "score"])


@pytest.fixture
def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["age"] + 0.5 * frame["score"] > 0).astype(int).to_numpy()


@pytest.fixture
def local_client(sqlite_settings):  # type: ignore[no-untyped-def]
    """A TrackingClient on a SQLite file under the test's folder (for file-level tests)."""
    from modelyard.tracking.client import TrackingClient

    client = TrackingClient(sqlite_settings.replace(capture_code=False, capture_environment=False))
    yield client
    client.close()


@pytest.fixture
def run_id(local_client) -> str:  # type: ignore[no-untyped-def]
    """A run of ``local_client`` to log models into."""
    run = local_client.create_run("models")
    yield run
    local_client.end_run(run)
