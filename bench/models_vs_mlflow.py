"""Side-by-side benchmark of Modelyard's model loading and prediction and MLflow pyfunc.

The same 20-feature LogisticRegression, fitted on a DataFrame, is logged by both tools
(``yard.log_model`` and ``mlflow.sklearn.log_model``, each with a 5-row input example so both
enforce a signature) into their own SQLite store in a temporary folder. Then:

1. ``predict``: a 1-row DataFrame predict, timed call by call, through (a) the bare estimator
   ``model.predict(row)``, (b) our ``Predictor.predict(row)`` and (c) MLflow's
   ``mlflow.pyfunc.load_model(uri).predict(row)``. The three are interleaved in rounds of
   ``--batch`` calls so they share the machine's noise; the median per call is reported with
   each tool's overhead over the bare estimator. Goal: ours <= 10 % over bare, and below
   MLflow's overhead.
2. ``load``: ``load_model(uri)`` cold (our local cache emptied before each load; MLflow has no
   cache and downloads every time) and warm (ours: the verified cache is there and is
   re-hashed; MLflow: the same download again), median of ``--loads`` loads after a warm-up.

Both tools run in this one process (imports done before timing), so they see the same
machine at the same moments.

Usage (MLflow must be installed: ``pip install -e '.[bench]'``)::

    python bench/models_vs_mlflow.py                 # 2,000 calls each
    python bench/models_vs_mlflow.py --calls 500     # a quicker smoke run
    python bench/models_vs_mlflow.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO_SRC = Path(__file__).resolve().parent.parent / "src"
if str(REPO_SRC) not in sys.path:
    sys.path.insert(0, str(REPO_SRC))

OVERHEAD_GOAL = 0.10
FEATURES = 20
ROWS = 1_000


def _data() -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(42)
    X = pd.DataFrame(rng.normal(size=(ROWS, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    y = (X["f0"] + 0.5 * X["f1"] - X["f2"] + rng.normal(scale=0.3, size=ROWS) > 0).astype(int)
    return X, LogisticRegression(max_iter=500).fit(X, y)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def setup_modelyard(root: Path, X: Any, model: Any) -> tuple[str, Callable[[], Any], Path]:
    import modelyard as yard

    yard.configure(project_root=str(root), capture_code=False, capture_environment=False)
    yard.set_experiment("bench")
    with yard.start_run():
        info = yard.log_model(model, name="model", input_example=X[:5])
    cache = yard.get_client().config.home / "cache" / "models"

    def load() -> Any:
        return yard.load_model(info.uri)

    return info.uri, load, cache


def setup_mlflow(root: Path, X: Any, model: Any) -> tuple[str, Callable[[], Any]]:
    import mlflow
    import mlflow.sklearn

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:5])
    uri = info.model_uri

    def load() -> Any:
        return mlflow.pyfunc.load_model(uri)

    return uri, load


def time_predict(
    fns: dict[str, Callable[[Any], Any]], row: Any, calls: int, batch: int
) -> dict[str, float]:
    """Median µs per call of each function, interleaved in rounds of ``batch`` calls."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    clock = time.perf_counter_ns
    for fn in fns.values():  # warm-up
        for _ in range(50):
            fn(row)
    for _ in range(max(1, calls // batch)):
        for name, fn in fns.items():
            out = samples[name]
            for _ in range(batch):
                start = clock()
                fn(row)
                out.append((clock() - start) / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def run(calls: int, batch: int, loads: int) -> dict[str, Any]:
    import mlflow
    import numpy as np
    import sklearn

    import modelyard

    X, model = _data()
    row = X.iloc[[0]]
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        root = Path(tmp)
        (root / "yard").mkdir()
        (root / "mlflow").mkdir()
        ours_uri, ours_load, cache = setup_modelyard(root / "yard", X, model)
        theirs_uri, theirs_load = setup_mlflow(root / "mlflow", X, model)
        ours_load()
        theirs_load()  # warm-up: imports, first-time setup

        def cold() -> Any:
            shutil.rmtree(cache, ignore_errors=True)
            return ours_load()

        load_ms = {
            "modelyard_cold": _median_ms(cold, loads),
            "modelyard_warm": _median_ms(ours_load, loads),
            "mlflow_cold": _median_ms(theirs_load, loads),
        }
        load_ms["mlflow_warm"] = _median_ms(theirs_load, loads)

        predictor = ours_load()
        pyfunc = theirs_load()
        bare = predictor.raw
        np.testing.assert_array_equal(predictor.predict(X), model.predict(X))
        np.testing.assert_array_equal(np.asarray(pyfunc.predict(X)), model.predict(X))
        per_call = time_predict(
            {"bare": bare.predict, "modelyard": predictor.predict, "mlflow": pyfunc.predict},
            row,
            calls,
            batch,
        )
    return {
        "calls": calls,
        "batch": batch,
        "loads": loads,
        "predict_us": per_call,
        "overhead": {
            "modelyard": per_call["modelyard"] / per_call["bare"] - 1,
            "mlflow": per_call["mlflow"] / per_call["bare"] - 1,
        },
        "load_ms": load_ms,
        "uris": {"modelyard": ours_uri, "mlflow": theirs_uri},
        "versions": {
            "modelyard": modelyard.__version__,
            "mlflow": mlflow.__version__,
            "scikit-learn": sklearn.__version__,
            "python": platform.python_version(),
        },
    }


def report(result: dict[str, Any]) -> bool:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    us, overhead = result["predict_us"], result["overhead"]
    table = Table(title=f"1-row DataFrame predict, {FEATURES}-feature LogisticRegression")
    table.add_column("path")
    table.add_column("µs per call (median)", justify="right")
    table.add_column("overhead vs bare", justify="right")
    table.add_row("bare estimator: model.predict(row)", f"{us['bare']:.1f}", "")
    table.add_row(
        "Modelyard Predictor.predict(row)", f"{us['modelyard']:.1f}",
        f"{100 * overhead['modelyard']:+.1f} %",
    )  # fmt: skip
    table.add_row(
        "MLflow pyfunc .predict(row)", f"{us['mlflow']:.1f}", f"{100 * overhead['mlflow']:+.1f} %"
    )
    console.print(table)

    load = result["load_ms"]
    loads = Table(title="load_model (ms, median)")
    loads.add_column("tool")
    loads.add_column("cold", justify="right")
    loads.add_column("warm", justify="right")
    loads.add_row("Modelyard", f"{load['modelyard_cold']:.1f}", f"{load['modelyard_warm']:.1f}")
    loads.add_row("MLflow", f"{load['mlflow_cold']:.1f}", f"{load['mlflow_warm']:.1f}")
    console.print(loads)

    within = overhead["modelyard"] <= OVERHEAD_GOAL
    below = overhead["modelyard"] < overhead["mlflow"]
    console.print(
        f"goal: overhead <= {100 * OVERHEAD_GOAL:.0f} % over bare: "
        + ("[green]PASS[/]" if within else "[red]MISS[/]")
        + "; below MLflow's: "
        + ("[green]PASS[/]" if below else "[red]MISS[/]")
    )
    console.print(
        f"{result['calls']} calls per path in rounds of {result['batch']}; "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    )
    return within and below


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000, help="predict calls per path")
    parser.add_argument("--batch", type=int, default=100, help="calls per interleaved round")
    parser.add_argument("--loads", type=int, default=5, help="timed loads per measurement")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(args.calls, args.batch, args.loads)
    ok = report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
