"""The predictor's per-call overhead on a 1-row predict stays small (bench/ measures it)."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelyard.models import load_model, save_model


def test_one_row_overhead_over_the_bare_estimator(tmp_path):
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 20)), columns=[f"f{i}" for i in range(20)])
    model = LogisticRegression().fit(X, (X["f0"] > 0).astype(int))
    save_model(model, tmp_path / "m", input_example=X[:5])
    predictor = load_model(tmp_path / "m")
    estimator = predictor.raw
    row = X.iloc[[7]]

    def per_call(fn, n=100) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        for _ in range(n):
            fn(row)
        return (time.perf_counter() - start) / n

    bare, ours = [], []
    for _ in range(12):  # interleaved rounds share the machine's noise
        bare.append(per_call(estimator.predict))
        ours.append(per_call(predictor.predict))
    ratio = statistics.median(ours) / statistics.median(bare)
    # The goal is <= 1.10 (measured ~1.01 in bench/models_vs_mlflow.py); the bound here is
    # loose so that a busy CI machine does not make it flaky.
    assert ratio < 1.3, f"predictor overhead {100 * (ratio - 1):.0f}% over the bare estimator"
