"""Side-by-side benchmark of Modelyard tracking and MLflow tracking, both on SQLite files.

Runs the same workloads on both tools and prints one table: the Modelyard figure, the MLflow
figure, the ratio (higher is better for Modelyard) and the goal with PASS or MISS.

1. ``single``: metric points logged one call each (``yard.log_metric`` / ``mlflow.log_metric``),
   points per second including the flush at the end of the run. Goal: at least 100x MLflow.
2. ``batch``: 100,000 points in batches (``yard.log_metrics`` of 100 keys per step /
   ``MlflowClient.log_batch`` of 1,000 metrics per call, its limit), points per second
   including the final flush. Goal: at least 10x MLflow.
3. ``search``: 2,000 runs with 10 params and 10 metrics each (the same seeded data on both
   sides); ``metrics.auc > 0.9 and params.num_leaves = '31'`` ordered by ``metrics.auc desc``,
   100 results; median of 10 timed calls after one warm-up. Both tools must return the same
   runs in the same order. Goal: at least 10x faster than MLflow.
4. ``import``: ``import modelyard`` vs ``import mlflow`` (median of fresh interpreters, minus
   an empty interpreter) and ``modelyard --help`` vs ``mlflow --help``. Goal: ours <= 0.3 s.

Each tool runs each workload in its own subprocess, in its own temporary folder, so imports
and global state never mix; the parent collects the children's JSON.

Usage::

    pip install -e '.[bench]'
    python bench/tracking_vs_mlflow.py            # full sizes (a few minutes)
    python bench/tracking_vs_mlflow.py --quick    # small sizes, a smoke run
    python bench/tracking_vs_mlflow.py --json results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO_SRC = HERE.parent.parent / "src"

FULL = {
    "single_points": 10_000,  # Modelyard: log_metric calls
    "mlflow_single_points": 10_000,  # MLflow: log_metric calls (may be smaller; rate is reported)
    "batch_keys": 100,
    "batch_steps": 1_000,  # 100 keys x 1,000 steps = 100,000 points
    "mlflow_batch_points": 100_000,
    "mlflow_batch_size": 1_000,  # MLflow's log_batch limit
    "search_runs": 2_000,
    "search_repeats": 10,
    "import_repeats": 5,
}
QUICK = {
    "single_points": 2_000,
    "mlflow_single_points": 200,
    "batch_keys": 100,
    "batch_steps": 100,
    "mlflow_batch_points": 10_000,
    "mlflow_batch_size": 1_000,
    "search_runs": 200,
    "search_repeats": 3,
    "import_repeats": 3,
}

SEARCH_FILTER = "metrics.auc > 0.9 and params.num_leaves = '31'"
SEARCH_MAX_RESULTS = 100
IMPORT_GOAL_S = 0.3


# -- children: one tool, one workload, one fresh folder -----------------------------------------


def _yard(folder: str) -> Any:
    import modelyard as yard

    yard.configure(
        project_root=folder,
        database_url=f"sqlite:///{folder}/modelyard.db",
        artifact_url=f"{folder}/artifacts",
        capture_code=False,
    )
    yard.set_experiment("bench")
    return yard


def _mlflow(folder: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    mlflow.set_experiment("bench")  # creates the schema: not timed
    return mlflow


def yard_single(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    yard = _yard(folder)
    n = sizes["single_points"]
    values = [1.0 / (i + 1) for i in range(n)]
    with yard.start_run(name="single") as run:
        start = time.perf_counter()
        for step, value in enumerate(values):
            yard.log_metric("loss", value, step=step)
    seconds = time.perf_counter() - start  # includes the flush done by ending the run
    stored = len(yard.get_metric_history(run.run_id, "loss"))
    _check(stored == n, f"Modelyard stored {stored} of {n} points")
    return {"points": n, "seconds": seconds, "rate": n / seconds}


def mlflow_single(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    mlflow = _mlflow(folder)
    n = sizes["mlflow_single_points"]
    values = [1.0 / (i + 1) for i in range(n)]
    with mlflow.start_run(run_name="single") as run:
        start = time.perf_counter()
        for step, value in enumerate(values):
            mlflow.log_metric("loss", value, step=step)
    seconds = time.perf_counter() - start
    stored = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    _check(stored == n, f"MLflow stored {stored} of {n} points")
    return {"points": n, "seconds": seconds, "rate": n / seconds}


def mlflow_single_async(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    mlflow = _mlflow(folder)
    n = sizes["mlflow_single_points"]
    values = [1.0 / (i + 1) for i in range(n)]
    with mlflow.start_run(run_name="single-async") as run:
        start = time.perf_counter()
        for step, value in enumerate(values):
            mlflow.log_metric("loss", value, step=step, synchronous=False)
    seconds = time.perf_counter() - start  # ending the run waits for the queue to drain
    stored = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    _check(stored == n, f"MLflow (async) stored {stored} of {n} points")
    return {"points": n, "seconds": seconds, "rate": n / seconds}


def yard_batch(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    yard = _yard(folder)
    keys = [f"m{k:03d}" for k in range(sizes["batch_keys"])]
    steps = sizes["batch_steps"]
    n = len(keys) * steps
    with yard.start_run(name="batch") as run:
        start = time.perf_counter()
        for step in range(steps):
            yard.log_metrics({key: (step + k) * 1e-3 for k, key in enumerate(keys)}, step=step)
    seconds = time.perf_counter() - start
    for key in (keys[0], keys[-1]):
        stored = len(yard.get_metric_history(run.run_id, key))
        _check(stored == steps, f"Modelyard stored {stored} of {steps} points of {key}")
    return {"points": n, "calls": steps, "seconds": seconds, "rate": n / seconds}


def mlflow_batch(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    mlflow = _mlflow(folder)
    from mlflow.entities import Metric

    keys = [f"m{k:03d}" for k in range(sizes["batch_keys"])]
    per_call = sizes["mlflow_batch_size"]
    steps_per_call = per_call // len(keys)
    steps = sizes["mlflow_batch_points"] // len(keys)
    n = len(keys) * steps
    client = mlflow.MlflowClient()
    run_id = client.create_run(mlflow.get_experiment_by_name("bench").experiment_id).info.run_id
    start = time.perf_counter()
    for first in range(0, steps, steps_per_call):
        ts = int(time.time() * 1000)
        metrics = [
            Metric(key, (step + k) * 1e-3, ts, step)
            for step in range(first, min(first + steps_per_call, steps))
            for k, key in enumerate(keys)
        ]
        client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id)
    seconds = time.perf_counter() - start
    for key in (keys[0], keys[-1]):
        stored = len(client.get_metric_history(run_id, key))
        _check(stored == steps, f"MLflow stored {stored} of {steps} points of {key}")
    calls = -(-steps // steps_per_call)
    return {"points": n, "calls": calls, "seconds": seconds, "rate": n / seconds}


def search_data(
    n_runs: int, seed: int = 20240611
) -> list[tuple[str, dict[str, str], dict[str, float]]]:
    """The same seeded runs for both tools: 10 params and 10 metrics each."""
    rng = random.Random(seed)
    runs = []
    for i in range(n_runs):
        params = {
            "num_leaves": rng.choice(["15", "31", "63", "127"]),
            "learning_rate": rng.choice(["0.01", "0.03", "0.1", "0.3"]),
            "max_depth": str(rng.randint(3, 12)),
            "min_child_samples": str(rng.randint(5, 100)),
            "subsample": f"{rng.uniform(0.5, 1.0):.2f}",
            "colsample_bytree": f"{rng.uniform(0.5, 1.0):.2f}",
            "reg_alpha": f"{rng.uniform(0.0, 1.0):.3f}",
            "reg_lambda": f"{rng.uniform(0.0, 1.0):.3f}",
            "n_estimators": str(rng.choice([100, 200, 500, 1000])),
            "boosting": rng.choice(["gbdt", "dart", "goss"]),
        }
        metrics = {
            "auc": rng.uniform(0.6, 1.0),
            "accuracy": rng.uniform(0.6, 1.0),
            "precision": rng.uniform(0.5, 1.0),
            "recall": rng.uniform(0.5, 1.0),
            "f1": rng.uniform(0.5, 1.0),
            "logloss": rng.uniform(0.1, 0.7),
            "rmse": rng.uniform(0.1, 1.0),
            "train_time": rng.uniform(1.0, 600.0),
            "best_iteration": float(rng.randint(10, 1000)),
            "val_loss": rng.uniform(0.1, 0.9),
        }
        runs.append((f"run-{i:05d}", params, metrics))
    return runs


def yard_search(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    yard = _yard(folder)
    data = search_data(sizes["search_runs"])
    start = time.perf_counter()
    for name, params, metrics in data:
        with yard.start_run(name=name):
            yard.log_params(params)
            yard.log_metrics(metrics)
    setup = time.perf_counter() - start

    def search() -> list[str]:
        found = yard.search_runs(
            "bench",
            filter=SEARCH_FILTER,
            order_by=["metrics.auc desc"],
            max_results=SEARCH_MAX_RESULTS,
        )
        return [run.name for run in found]

    return _time_search(search, setup, len(data), sizes["search_repeats"])


def mlflow_search(folder: str, sizes: dict[str, int]) -> dict[str, Any]:
    mlflow = _mlflow(folder)
    from mlflow.entities import Metric, Param

    data = search_data(sizes["search_runs"])
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name("bench").experiment_id
    start = time.perf_counter()
    for name, params, metrics in data:
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        ts = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run_id)
    setup = time.perf_counter() - start

    def search() -> list[str]:
        found = client.search_runs(
            [experiment_id],
            filter_string=SEARCH_FILTER,
            order_by=["metrics.auc DESC"],
            max_results=SEARCH_MAX_RESULTS,
        )
        return [run.info.run_name for run in found]

    return _time_search(search, setup, len(data), sizes["search_repeats"])


def _time_search(
    search: Callable[[], list[str]], setup: float, n_runs: int, repeats: int
) -> dict[str, Any]:
    names = search()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        again = search()
        times.append(time.perf_counter() - start)
        _check(again == names, "two identical searches returned different runs")
    return {
        "runs": n_runs,
        "setup_seconds": setup,
        "setup_rate": n_runs / setup,
        "median": statistics.median(times),
        "times": times,
        "found": len(names),
        "names": names,
    }


CHILDREN: dict[str, Callable[[str, dict[str, int]], dict[str, Any]]] = {
    "modelyard.single": yard_single,
    "mlflow.single": mlflow_single,
    "mlflow.single_async": mlflow_single_async,
    "modelyard.batch": yard_batch,
    "mlflow.batch": mlflow_batch,
    "modelyard.search": yard_search,
    "mlflow.search": mlflow_search,
}


class BenchError(RuntimeError):
    """A workload failed or two tools disagreed on the data."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BenchError(message)


def _child_main(spec: str) -> int:
    job = json.loads(spec)
    result = CHILDREN[job["name"]](job["folder"], job["sizes"])
    Path(job["out"]).write_text(json.dumps(result))
    return 0


# -- parent: spawn children, time imports, print the table --------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(
        OMP_NUM_THREADS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_LOGGING_LEVEL="WARNING",
        _MLFLOW_TELEMETRY_PRE_WARM_DATABRICKS_SDK="false",
        PYTHONWARNINGS="ignore",
    )
    if _needs_src_path():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_SRC), env.get("PYTHONPATH")) if p)
    return env


def _needs_src_path() -> bool:
    import importlib.util

    return importlib.util.find_spec("modelyard") is None and REPO_SRC.is_dir()


def run_child(name: str, sizes: dict[str, int]) -> dict[str, Any]:
    """Run one workload of one tool in a fresh interpreter and a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        out = Path(folder) / "result.json"
        spec = json.dumps({"name": name, "folder": folder, "sizes": sizes, "out": str(out)})
        proc = subprocess.run(
            [sys.executable, str(HERE), "--child", spec],
            cwd=folder,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise BenchError(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _wall(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - start


def _cli(name: str) -> list[str]:
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", name, "--help"]


def time_imports(repeats: int) -> dict[str, Any]:
    """Median wall time of fresh interpreters; commands interleaved so noise hits all alike."""
    commands = {
        "pass": [sys.executable, "-c", "pass"],
        "modelyard": [sys.executable, "-c", "import modelyard"],
        "mlflow": [sys.executable, "-c", "import mlflow"],
        "modelyard --help": _cli("modelyard"),
        "mlflow --help": _cli("mlflow"),
    }
    times: dict[str, list[float]] = {key: [] for key in commands}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        for argv in commands.values():  # warm-up: compile .pyc, fill the page cache
            _wall(argv, folder)
        for _ in range(repeats):
            for key, argv in commands.items():
                times[key].append(_wall(argv, folder))
    median = {key: statistics.median(values) for key, values in times.items()}
    return {
        "median": median,
        "times": times,
        "import_modelyard": median["modelyard"] - median["pass"],
        "import_mlflow": median["mlflow"] - median["pass"],
    }


@dataclass(frozen=True)
class Row:
    """One line of the table; ratio is always 'higher is better for Modelyard'."""

    workload: str
    modelyard: float
    mlflow: float
    unit: str
    ratio: float
    goal: str
    passed: bool | None
    note: str = ""


def _throughput(workload: str, ours: float, theirs: float, goal: float, note: str = "") -> Row:
    ratio = ours / theirs
    return Row(workload, ours, theirs, "pts/s", ratio, f">= {goal:g}x", ratio >= goal, note)


def _latency(workload: str, ours: float, theirs: float, goal: float | None, note: str = "") -> Row:
    ratio = theirs / ours
    passed = None if goal is None else ratio >= goal
    return Row(
        workload, ours, theirs, "s", ratio, "-" if goal is None else f">= {goal:g}x", passed, note
    )


def build_rows(raw: dict[str, Any]) -> list[Row]:
    rows = []
    if "single" in raw:
        ours, theirs = raw["single"]["modelyard"], raw["single"]["mlflow"]
        note = f"{ours['points']:,} calls vs {theirs['points']:,} calls"
        rows.append(
            _throughput(
                "1. log_metric, one point per call", ours["rate"], theirs["rate"], 100, note
            )
        )
        if "mlflow_async" in raw["single"]:
            slow = raw["single"]["mlflow_async"]
            rows.append(
                Row(
                    "   MLflow with synchronous=False",
                    ours["rate"],
                    slow["rate"],
                    "pts/s",
                    ours["rate"] / slow["rate"],
                    "-",
                    None,
                    f"{slow['points']:,} calls",
                )
            )
    if "batch" in raw:
        ours, theirs = raw["batch"]["modelyard"], raw["batch"]["mlflow"]
        note = (
            f"{ours['points']:,} pts in {ours['calls']:,} log_metrics vs "
            f"{theirs['points']:,} pts in {theirs['calls']:,} log_batch"
        )
        rows.append(_throughput("2. batched points", ours["rate"], theirs["rate"], 10, note))
    if "search" in raw:
        ours, theirs = raw["search"]["modelyard"], raw["search"]["mlflow"]
        rows.append(
            _latency(
                f"3. search {ours['runs']:,} runs, top {SEARCH_MAX_RESULTS}",
                ours["median"],
                theirs["median"],
                10,
                f"median of {len(ours['times'])}; {ours['found']} runs found by each",
            )
        )
        rows.append(
            _latency(
                f"   setup: create {ours['runs']:,} runs",
                ours["setup_seconds"],
                theirs["setup_seconds"],
                None,
                f"{ours['setup_rate']:,.0f} vs {theirs['setup_rate']:,.0f} runs/s",
            )
        )
    if "import" in raw:
        imp = raw["import"]
        n = len(imp["times"]["pass"])
        ours = imp["import_modelyard"]
        rows.append(
            Row(
                "4. import time",
                ours,
                imp["import_mlflow"],
                "s",
                imp["import_mlflow"] / ours,
                f"ours <= {IMPORT_GOAL_S:g} s",
                ours <= IMPORT_GOAL_S,
                f"median of {n}, minus `python -c pass` ({imp['median']['pass']:.3f} s)",
            )
        )
        rows.append(
            _latency(
                "   CLI --help (wall time)",
                imp["median"]["modelyard --help"],
                imp["median"]["mlflow --help"],
                None,
                f"median of {n} subprocesses",
            )
        )
    return rows


def _figure(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Modelyard {meta['modelyard_version']} vs MLflow {meta['mlflow_version']} "
        f"({meta['mode']} mode, SQLite)",
        caption="ratio: ours/theirs for throughput, theirs/ours for times — higher is better",
    )
    for column in ("workload", "Modelyard", "MLflow", "ratio", "goal", "result", "note"):
        table.add_column(
            column, justify="right" if column in ("Modelyard", "MLflow", "ratio") else "left"
        )
    for row in rows:
        result = "" if row.passed is None else ("[green]PASS" if row.passed else "[red]MISS")
        table.add_row(
            row.workload,
            _figure(row.modelyard, row.unit),
            _figure(row.mlflow, row.unit),
            f"{row.ratio:,.1f}x",
            row.goal,
            result,
            row.note,
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument(
        "--only",
        choices=["single", "batch", "search", "import"],
        action="append",
        help="run only this workload (repeatable)",
    )
    parser.add_argument(
        "--mlflow-async",
        action="store_true",
        help="also time MLflow's log_metric(synchronous=False) (slow: about 1 minute)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args.child)

    sizes = dict(QUICK if args.quick else FULL)
    workloads = args.only or ["single", "batch", "search", "import"]
    raw: dict[str, Any] = {}
    began = time.perf_counter()
    for workload in workloads:
        if workload == "import":
            print(
                f"timing imports ({sizes['import_repeats']} fresh interpreters each) ...",
                flush=True,
            )
            raw["import"] = time_imports(sizes["import_repeats"])
            continue
        raw[workload] = {}
        for tool in ("modelyard", "mlflow"):
            print(f"running {tool}.{workload} ...", flush=True)
            raw[workload][tool] = run_child(f"{tool}.{workload}", sizes)
        if workload == "single" and args.mlflow_async:
            print("running mlflow.single_async ...", flush=True)
            raw[workload]["mlflow_async"] = run_child("mlflow.single_async", sizes)
        if workload == "search":
            ours, theirs = raw["search"]["modelyard"], raw["search"]["mlflow"]
            _check(
                ours["found"] == theirs["found"],
                f"Modelyard found {ours['found']} runs, MLflow {theirs['found']}",
            )
            _check(ours["names"] == theirs["names"], "the tools returned different runs or order")

    meta = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python", "bench/tracking_vs_mlflow.py", *(argv or sys.argv[1:])]),
        "modelyard_version": _version("modelyard"),
        "mlflow_version": _version("mlflow"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sizes": sizes,
        "elapsed_seconds": round(time.perf_counter() - began, 1),
    }
    rows = build_rows(raw)
    print_table(rows, meta)
    print(f"total time {meta['elapsed_seconds']} s")
    if args.json:
        for workload in raw.get("search", {}).values():
            workload["names"] = workload["names"][:5]  # keep the JSON small
        document = {"meta": meta, "rows": [asdict(r) for r in rows], "raw": raw}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    missed = [r.workload.strip() for r in rows if r.passed is False]
    if missed:
        print("goals missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
