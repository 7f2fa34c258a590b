"""Side-by-side benchmark of ``modelyard server`` and ``mlflow server``, both on SQLite files.

The script starts both servers itself, as real subprocesses on free ports of 127.0.0.1, each
over a SQLite file in its own fresh temporary folder, runs the same workloads against both and
prints one table: the Modelyard figure, the MLflow figure, the ratio (higher is better for
Modelyard) and the goal with PASS or MISS. Every server it starts is stopped at the end (its
whole process tree), also when a workload fails.

1. ``single``: metric points logged one call each, client -> server -> SQLite. Modelyard: the
   SDK in remote mode (``yard.configure(tracking_uri=...)``), whose ``log_metric`` is buffered,
   so points per second include the final flush; beside it the raw latency of one request
   carrying one point (``POST /api/metrics``, median of 200). MLflow:
   ``MlflowClient(tracking_uri=...).log_metric``, one HTTP request per call, fewer calls (it is
   slow) and the rate reported. Goal: at least 100x MLflow.
2. ``batch``: 100,000 points in batches (``yard.log_metrics`` of 100 keys x 1,000 steps /
   ``MlflowClient.log_batch`` of 1,000 metrics a call, its limit). Goal: at least 10x MLflow.
3. ``start``: spawn -> first 200 from ``/health`` (median of 3 starts, the first on an empty
   folder), then the memory of the idle server 5 s later: RSS summed over the server process
   and all its children (PSS too, which counts shared pages once). MLflow is started the way a
   user would: ``mlflow server --backend-store-uri sqlite:///... --default-artifact-root ...
   --host 127.0.0.1 --port N``, its defaults otherwise (4 uvicorn workers and job runners).
4. ``page``: an experiment with 10,000 runs (10 params and 10 metrics each, the same seeded data
   on both sides, written straight into each tool's tables with SQLAlchemy Core while the
   server is stopped). Modelyard: time to first byte of the runs page ``GET
   /experiments/{id}`` (median of 20 after a warm-up). MLflow's UI is a JavaScript app whose
   runs table comes from ``POST /api/2.0/mlflow/runs/search``, so that call (first page,
   ``max_results=100``) is its nearest equivalent; ours through the API
   (``POST /api/runs/search``, 100 runs) is shown beside it. Goal: our page <= 200 ms.

HTTP clients run in their own interpreters (``--child``), like in tracking_vs_mlflow.py.

Usage::

    pip install -e '.[bench]' psutil
    python bench/server_vs_mlflow.py            # full sizes (about 5 minutes)
    python bench/server_vs_mlflow.py --quick    # small sizes, a smoke run
    python bench/server_vs_mlflow.py --json results.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO_SRC = HERE.parent.parent / "src"

FULL = {
    "single_points": 10_000,  # Modelyard: log_metric calls
    "latency_samples": 200,  # Modelyard: 1-point POST /api/metrics requests timed one by one
    "mlflow_single_calls": 300,  # MLflow: log_metric calls (one request each; rate reported)
    "batch_keys": 100,
    "batch_steps": 1_000,  # 100 keys x 1,000 steps = 100,000 points
    "mlflow_batch_points": 100_000,
    "mlflow_batch_size": 1_000,  # MLflow's log_batch limit
    "starts": 3,  # Modelyard server starts timed
    "mlflow_starts": 3,  # MLflow server starts timed (about 20 s each here)
    "idle_seconds": 5,  # wait after the first answer before reading memory
    "page_runs": 10_000,
    "page_repeats": 20,
}
QUICK = {
    "single_points": 2_000,
    "latency_samples": 50,
    "mlflow_single_calls": 50,
    "batch_keys": 100,
    "batch_steps": 100,
    "mlflow_batch_points": 10_000,
    "mlflow_batch_size": 1_000,
    "starts": 1,
    "mlflow_starts": 1,
    "idle_seconds": 2,
    "page_runs": 1_000,
    "page_repeats": 5,
}

HOST = "127.0.0.1"
PAGE_GOAL_S = 0.2
PAGE_MAX_RESULTS = 100  # MLflow's first page, and ours through the API
START_TIMEOUT_S = 300.0
TOOLS = ("modelyard", "mlflow")


class BenchError(RuntimeError):
    """A workload failed, a server did not start, or a tool stored the wrong data."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BenchError(message)


# -- children: one tool, one workload, against a running server ---------------------------------


def _yard(url: str, folder: str) -> Any:
    import modelyard as yard

    yard.configure(tracking_uri=url, project_root=folder, capture_code=False)
    return yard


def yard_single(job: dict[str, Any]) -> dict[str, Any]:
    import httpx

    yard = _yard(job["url"], job["folder"])
    sizes = job["sizes"]
    yard.set_experiment("bench-single")
    n = sizes["single_points"]
    values = [1.0 / (i + 1) for i in range(n)]
    with yard.start_run(name="single") as run:
        start = time.perf_counter()
        for step, value in enumerate(values):
            yard.log_metric("loss", value, step=step)
    seconds = time.perf_counter() - start  # includes the flush done by ending the run
    stored = len(yard.get_metric_history(run.run_id, "loss"))
    _check(stored == n, f"Modelyard stored {stored} of {n} points")

    # What one call costs when it is one request: a 1-point batch, sent and answered.
    latencies = []
    with yard.start_run(name="latency") as run, httpx.Client(base_url=job["url"]) as http:
        for i in range(sizes["latency_samples"] + 5):
            body = {
                "batch_id": uuid.uuid4().hex,
                "points": [
                    {
                        "run_id": run.run_id,
                        "key": "latency",
                        "value": 1.0 / (i + 1),
                        "timestamp": int(time.time() * 1000),
                        "step": i,
                    }
                ],
            }
            began = time.perf_counter()
            response = http.post("/api/metrics", json=body)
            elapsed = time.perf_counter() - began
            _check(
                response.status_code == 200 and response.json()["written"] == 1,
                f"POST /api/metrics answered {response.status_code}: {response.text[:200]}",
            )
            if i >= 5:  # the first few warm the connection and the server's code paths
                latencies.append(elapsed)
    return {
        "points": n,
        "calls": n,
        "seconds": seconds,
        "rate": n / seconds,
        "request_median": statistics.median(latencies),
        "request_samples": len(latencies),
    }


def mlflow_single(job: dict[str, Any]) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=job["url"])
    n = job["sizes"]["mlflow_single_calls"]
    experiment_id = client.create_experiment("bench-single")
    run_id = client.create_run(experiment_id, run_name="single").info.run_id
    client.log_metric(run_id, "warmup", 0.0, step=0)  # not timed: warms the connection
    times = []
    start = time.perf_counter()
    for step in range(n):
        began = time.perf_counter()
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        times.append(time.perf_counter() - began)
    seconds = time.perf_counter() - start
    client.set_terminated(run_id)
    stored = len(client.get_metric_history(run_id, "loss"))
    _check(stored == n, f"MLflow stored {stored} of {n} points")
    return {
        "points": n,
        "calls": n,
        "seconds": seconds,
        "rate": n / seconds,
        "request_median": statistics.median(times),
        "request_samples": n,
    }


def yard_batch(job: dict[str, Any]) -> dict[str, Any]:
    yard = _yard(job["url"], job["folder"])
    sizes = job["sizes"]
    yard.set_experiment("bench-batch")
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


def mlflow_batch(job: dict[str, Any]) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    sizes = job["sizes"]
    client = MlflowClient(tracking_uri=job["url"])
    keys = [f"m{k:03d}" for k in range(sizes["batch_keys"])]
    steps_per_call = sizes["mlflow_batch_size"] // len(keys)
    steps = sizes["mlflow_batch_points"] // len(keys)
    n = len(keys) * steps
    run_id = client.create_run(client.create_experiment("bench-batch")).info.run_id
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


@dataclass(frozen=True)
class PageRun:
    """One run of the runs-page experiment, the same for both tools."""

    run_id: str
    name: str
    start_time: int
    end_time: int
    params: dict[str, str]
    metrics: dict[str, float]


def page_data(n_runs: int, seed: int = 20240611) -> list[PageRun]:
    """The same seeded runs for both tools: 10 params and 10 metrics each, distinct starts."""
    rng = random.Random(seed)
    base = 1_700_000_000_000
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
        start = base + i * 60_000
        run_id = f"{rng.getrandbits(128):032x}"
        runs.append(
            PageRun(
                run_id, f"run-{i:05d}", start, start + rng.randint(1_000, 50_000), params, metrics
            )
        )
    return runs


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]], chunk: int = 5_000) -> None:
    for first in range(0, len(rows), chunk):
        conn.execute(table.insert(), rows[first : first + chunk])


def yard_fill(job: dict[str, Any]) -> dict[str, Any]:
    """Write the runs-page experiment straight into our tables (the server is stopped)."""
    from sqlalchemy import create_engine

    import modelyard as yard
    from modelyard.store import tables as t

    folder = job["folder"]
    database_url = f"sqlite:///{folder}/modelyard.db"
    yard.configure(
        database_url=database_url,
        artifact_url=f"{folder}/artifacts",
        project_root=folder,
        capture_code=False,
    )
    experiment_id = yard.get_client().get_or_create_experiment("runs-page").experiment_id
    data = page_data(job["sizes"]["page_runs"])
    start = time.perf_counter()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        _insert(
            conn,
            t.runs,
            [
                {
                    "run_id": r.run_id,
                    "experiment_id": experiment_id,
                    "name": r.name,
                    "status": "FINISHED",
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    "user": "bench",
                    "host": "bench",
                }
                for r in data
            ],
        )
        _insert(
            conn,
            t.params,
            [{"run_id": r.run_id, "key": k, "value": v} for r in data for k, v in r.params.items()],
        )
        points = [
            {
                "run_id": r.run_id,
                "key": k,
                "step": 0,
                "timestamp": r.end_time,
                "value": v,
                "is_nan": False,
            }
            for r in data
            for k, v in r.metrics.items()
        ]
        _insert(conn, t.metrics, points)
        _insert(conn, t.latest_metrics, points)
    engine.dispose()
    return {
        "experiment_id": experiment_id,
        "runs": len(data),
        "seconds": time.perf_counter() - start,
    }


def mlflow_fill(job: dict[str, Any]) -> dict[str, Any]:
    """Write the runs-page experiment straight into MLflow's tables (the server is stopped)."""
    from mlflow import MlflowClient
    from sqlalchemy import MetaData, create_engine

    folder = job["folder"]
    database_url = f"sqlite:///{folder}/mlflow.db"
    client = MlflowClient(tracking_uri=database_url)
    experiment_id = client.create_experiment(
        "runs-page", artifact_location=f"{folder}/mlartifacts/runs-page"
    )
    data = page_data(job["sizes"]["page_runs"])
    start = time.perf_counter()
    engine = create_engine(database_url)
    meta = MetaData()
    meta.reflect(engine, only=["runs", "params", "metrics", "latest_metrics", "tags"])
    tables = meta.tables
    with engine.begin() as conn:
        _insert(
            conn,
            tables["runs"],
            [
                {
                    "run_uuid": r.run_id,
                    "name": r.name,
                    "source_type": "LOCAL",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": "bench",
                    "status": "FINISHED",
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"{folder}/mlartifacts/runs-page/{r.run_id}/artifacts",
                    "experiment_id": int(experiment_id),
                    "deleted_time": None,
                }
                for r in data
            ],
        )
        _insert(
            conn,
            tables["params"],
            [
                {"run_uuid": r.run_id, "key": k, "value": v}
                for r in data
                for k, v in r.params.items()
            ],
        )
        _insert(
            conn,
            tables["tags"],
            [
                {"run_uuid": r.run_id, "key": key, "value": value}
                for r in data
                for key, value in (("mlflow.runName", r.name), ("mlflow.user", "bench"))
            ],
        )
        points = [
            {
                "run_uuid": r.run_id,
                "key": k,
                "value": v,
                "timestamp": r.end_time,
                "step": 0,
                "is_nan": False,
            }
            for r in data
            for k, v in r.metrics.items()
        ]
        _insert(conn, tables["metrics"], points)
        _insert(conn, tables["latest_metrics"], points)
    engine.dispose()
    return {
        "experiment_id": int(experiment_id),
        "runs": len(data),
        "seconds": time.perf_counter() - start,
    }


def _time_requests(
    url: str, method: str, path: str, body: bytes | None, repeats: int, warmup: int = 2
) -> tuple[list[float], list[float], bytes]:
    """Time to first byte (status line and headers read) and to the last byte, one connection."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"content-type": "application/json"} if body is not None else {}
    first: list[float] = []
    total: list[float] = []
    content = b""
    try:
        for i in range(warmup + repeats):
            began = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            ttfb = time.perf_counter() - began
            content = response.read()
            elapsed = time.perf_counter() - began
            _check(
                response.status == 200,
                f"{method} {path} answered {response.status}: {content[:300]!r}",
            )
            if i >= warmup:
                first.append(ttfb)
                total.append(elapsed)
    finally:
        conn.close()
    return first, total, content


def _timing(first: list[float], total: list[float], content: bytes) -> dict[str, Any]:
    return {
        "ttfb_median": statistics.median(first),
        "total_median": statistics.median(total),
        "ttfb": first,
        "bytes": len(content),
    }


def yard_page(job: dict[str, Any]) -> dict[str, Any]:
    url, eid, repeats = job["url"], job["experiment_id"], job["sizes"]["page_repeats"]
    newest = page_data(job["sizes"]["page_runs"])[-1].name
    first, total, content = _time_requests(url, "GET", f"/experiments/{eid}", None, repeats)
    page = _timing(first, total, content)
    _check(newest.encode() in content, f"the runs page does not show the newest run {newest}")
    body = json.dumps({"experiment_ids": [eid], "max_results": PAGE_MAX_RESULTS}).encode()
    first, total, content = _time_requests(url, "POST", "/api/runs/search", body, repeats)
    api = _timing(first, total, content)
    found = json.loads(content)["runs"]
    _check(len(found) == PAGE_MAX_RESULTS, f"/api/runs/search returned {len(found)} runs")
    _check(found[0]["name"] == newest, f"/api/runs/search put {found[0]['name']} first")
    return {"page": page, "api": api, "first_run": found[0]["name"]}


def mlflow_page(job: dict[str, Any]) -> dict[str, Any]:
    url, eid, repeats = job["url"], job["experiment_id"], job["sizes"]["page_repeats"]
    newest = page_data(job["sizes"]["page_runs"])[-1].name
    body = json.dumps(
        {"experiment_ids": [str(eid)], "max_results": PAGE_MAX_RESULTS, "run_view_type": 1}
    ).encode()
    first, total, content = _time_requests(
        url, "POST", "/api/2.0/mlflow/runs/search", body, repeats
    )
    api = _timing(first, total, content)
    found = json.loads(content).get("runs", [])
    _check(len(found) == PAGE_MAX_RESULTS, f"MLflow runs/search returned {len(found)} runs")
    name = found[0]["info"].get("run_name")
    _check(name == newest, f"MLflow runs/search put {name} first, expected {newest}")
    return {"api": api, "first_run": name}


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "modelyard.single": yard_single,
    "mlflow.single": mlflow_single,
    "modelyard.batch": yard_batch,
    "mlflow.batch": mlflow_batch,
    "modelyard.fill": yard_fill,
    "mlflow.fill": mlflow_fill,
    "modelyard.page": yard_page,
    "mlflow.page": mlflow_page,
}


def _child_main(spec: str) -> int:
    job = json.loads(spec)
    result = CHILDREN[job["name"]](job)
    Path(job["out"]).write_text(json.dumps(result))
    return 0


# -- parent: start and stop servers, spawn clients, print the table ------------------------------


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


def run_child(name: str, folder: str, sizes: dict[str, int], **extra: Any) -> dict[str, Any]:
    """Run one client workload in a fresh interpreter; its result comes back as JSON."""
    out = Path(folder) / f"result-{name}.json"
    out.unlink(missing_ok=True)
    spec = json.dumps({"name": name, "folder": folder, "sizes": sizes, "out": str(out), **extra})
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as cwd:
        proc = subprocess.run(
            [sys.executable, str(HERE), "--child", spec],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0 or not out.exists():
        raise BenchError(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server_argv(tool: str, folder: str, port: int) -> list[str]:
    if tool == "modelyard":
        return [sys.executable, "-m", "modelyard", "server", "--host", HOST, "--port", str(port)]
    script = Path(sys.executable).parent / "mlflow"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]
    return [
        *command,
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder}/mlflow.db",
        "--default-artifact-root",
        f"{folder}/mlartifacts",
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def _get_status(url: str, path: str) -> int | None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Server:
    """One server process tree started by this script (stopped by :func:`stop_server`)."""

    tool: str
    folder: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    start_seconds: float = 0.0
    pids: set[int] = field(default_factory=set)


_RUNNING: list[Server] = []


def start_server(tool: str, folder: str) -> Server:
    """Spawn the server and wait for the first 200 from /health; the wait is timed."""
    port = free_port()
    env = _env()
    if tool == "modelyard":
        env["MODELYARD_DATABASE_URL"] = f"sqlite:///{folder}/modelyard.db"
        env["MODELYARD_ARTIFACT_URL"] = f"{folder}/artifacts"
    log = Path(folder) / f"{tool}-server-{port}.log"
    url = f"http://{HOST}:{port}"
    with open(log, "wb") as out:
        began = time.perf_counter()
        proc = subprocess.Popen(
            _server_argv(tool, folder, port),
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    server = Server(tool, folder, proc, url, log)
    _RUNNING.append(server)
    deadline = began + START_TIMEOUT_S
    while True:
        if _get_status(url, "/health") == 200:
            server.start_seconds = time.perf_counter() - began
            break
        if proc.poll() is not None or time.perf_counter() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            stop_server(server)
            raise BenchError(f"{tool} server on {url} did not answer /health:\n{tail}")
        time.sleep(0.02)
    server.pids = {p.pid for p in _tree(proc.pid)}
    return server


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory(server: Server) -> dict[str, Any]:
    """RSS and PSS summed over the server process and all its children, in bytes."""
    import psutil

    processes = []
    for proc in _tree(server.proc.pid):
        try:
            info = proc.memory_full_info()
            cmd = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        server.pids.add(proc.pid)
        processes.append({"pid": proc.pid, "rss": info.rss, "pss": info.pss, "cmd": cmd[:160]})
    return {
        "processes": len(processes),
        "rss": sum(p["rss"] for p in processes),
        "pss": sum(p["pss"] for p in processes),
        "detail": processes,
    }


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, then SIGKILL to whatever of its tree is left."""
    import psutil

    server.pids.update(p.pid for p in _tree(server.proc.pid))
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(timeout=30)
    left = []
    for pid in server.pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            left.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(left, timeout=15)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=5)
    if server in _RUNNING:
        _RUNNING.remove(server)


@contextlib.contextmanager
def stopping_all() -> Iterator[None]:
    try:
        yield
    finally:
        for server in list(_RUNNING):
            stop_server(server)


def run_tool(tool: str, folder: str, sizes: dict[str, int], workloads: list[str]) -> dict[str, Any]:
    """Every workload of one tool, in one fresh folder, servers started and stopped here."""
    raw: dict[str, Any] = {}
    starts = sizes["starts" if tool == "modelyard" else "mlflow_starts"]
    server: Server | None = None
    if "start" in workloads or "single" in workloads or "batch" in workloads:
        times, memory = [], []
        count = starts if "start" in workloads else 1
        for i in range(count):
            if server is not None:
                stop_server(server)
            print(f"starting {tool} server ({i + 1}/{count}) ...", flush=True)
            server = start_server(tool, folder)
            times.append(server.start_seconds)
            if "start" in workloads:
                time.sleep(sizes["idle_seconds"])
                memory.append(tree_memory(server))
        if "start" in workloads:
            raw["start"] = {
                "times": times,
                "median": statistics.median(times),
                "memory": memory,
                "rss_median": statistics.median(m["rss"] for m in memory),
                "pss_median": statistics.median(m["pss"] for m in memory),
                "processes": memory[0]["processes"],
            }
        for workload in ("single", "batch"):
            if workload in workloads and server is not None:
                print(f"running {tool}.{workload} against {server.url} ...", flush=True)
                raw[workload] = run_child(f"{tool}.{workload}", folder, sizes, url=server.url)
        if server is not None:
            stop_server(server)
    if "page" in workloads:
        if not (Path(folder) / f"{tool}.db").exists():  # the schema comes from a first start
            stop_server(start_server(tool, folder))
        print(f"writing {sizes['page_runs']:,} runs into {tool}'s tables ...", flush=True)
        fill = run_child(f"{tool}.fill", folder, sizes)
        server = start_server(tool, folder)
        print(f"timing {tool}'s runs page ...", flush=True)
        page = run_child(
            f"{tool}.page", folder, sizes, url=server.url, experiment_id=fill["experiment_id"]
        )
        stop_server(server)
        raw["page"] = {**page, "fill": fill, "start_seconds": server.start_seconds}
    return raw


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


def _smaller(workload: str, ours: float, theirs: float, unit: str, note: str = "") -> Row:
    """A time or a size: smaller is better, so the ratio is theirs / ours."""
    return Row(workload, ours, theirs, unit, theirs / ours, "-", None, note)


def build_rows(raw: dict[str, Any], sizes: dict[str, int]) -> list[Row]:
    ours, theirs = raw["modelyard"], raw["mlflow"]
    rows = []
    if "single" in ours:
        a, b = ours["single"], theirs["single"]
        rows.append(
            _throughput(
                "1. log_metric, one point per call, remote",
                a["rate"],
                b["rate"],
                100,
                f"{a['calls']:,} buffered calls incl. final flush vs {b['calls']:,} calls "
                "(MLflow: fewer calls, rate reported)",
            )
        )
        rows.append(
            _smaller(
                "   one request carrying one point",
                a["request_median"],
                b["request_median"],
                "s",
                f"median of {a['request_samples']} POST /api/metrics vs "
                f"{b['request_samples']} log_metric calls",
            )
        )
    if "batch" in ours:
        a, b = ours["batch"], theirs["batch"]
        rows.append(
            _throughput(
                "2. batched points, remote",
                a["rate"],
                b["rate"],
                10,
                f"{a['points']:,} pts in {a['calls']:,} log_metrics vs "
                f"{b['points']:,} pts in {b['calls']:,} log_batch",
            )
        )
    if "start" in ours:
        a, b = ours["start"], theirs["start"]
        rows.append(
            _smaller(
                "3. server start to first /health 200",
                a["median"],
                b["median"],
                "s",
                f"median of {len(a['times'])} vs {len(b['times'])} starts, first on an empty "
                "folder",
            )
        )
        rows.append(
            _smaller(
                f"   memory at idle ({sizes['idle_seconds']} s after), RSS of the tree",
                a["rss_median"],
                b["rss_median"],
                "MB",
                f"{a['processes']} vs {b['processes']} processes; PSS "
                f"{a['pss_median'] / 1e6:,.0f} vs {b['pss_median'] / 1e6:,.0f} MB",
            )
        )
    if "page" in ours:
        a, b = ours["page"], theirs["page"]
        page = a["page"]
        n = len(page["ttfb"])
        rows.append(
            Row(
                f"4. runs page, {sizes['page_runs']:,} runs: time to first byte",
                page["ttfb_median"],
                b["api"]["ttfb_median"],
                "s",
                b["api"]["ttfb_median"] / page["ttfb_median"],
                f"ours <= {PAGE_GOAL_S * 1000:g} ms",
                page["ttfb_median"] <= PAGE_GOAL_S,
                f"median of {n}; ours GET /experiments/{{id}} (HTML, {page['bytes'] // 1024} KiB) "
                f"vs MLflow POST runs/search max_results={PAGE_MAX_RESULTS} (its UI's data call)",
            )
        )
        rows.append(
            _smaller(
                f"   API: first {PAGE_MAX_RESULTS} runs of {sizes['page_runs']:,}, TTFB",
                a["api"]["ttfb_median"],
                b["api"]["ttfb_median"],
                "s",
                f"median of {n}; POST /api/runs/search vs POST /api/2.0/mlflow/runs/search",
            )
        )
        rows.append(
            _smaller(
                f"   server start with {sizes['page_runs']:,} runs in the DB",
                a["start_seconds"],
                b["start_seconds"],
                "s",
                "one start each",
            )
        )
    return rows


def _figure(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "MB":
        return f"{value / 1e6:,.0f} MB"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"modelyard server {meta['modelyard_version']} vs mlflow server "
        f"{meta['mlflow_version']} ({meta['mode']} mode, SQLite, {HOST})",
        caption="ratio: ours/theirs for throughput, theirs/ours for times and memory — "
        "higher is better",
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
    Console(width=None if sys.stdout.isatty() else 200).print(table)


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
        choices=["single", "batch", "start", "page"],
        action="append",
        help="run only this workload (repeatable)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args.child)
    try:
        import psutil  # noqa: F401
    except ImportError:
        parser.error("psutil is needed to measure memory: pip install psutil")

    sizes = dict(QUICK if args.quick else FULL)
    workloads = args.only or ["single", "batch", "start", "page"]
    raw: dict[str, Any] = {}
    began = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with stopping_all():
            for tool in TOOLS:
                with tempfile.TemporaryDirectory(prefix=f"bench-server-{tool}-") as folder:
                    raw[tool] = run_tool(tool, folder, sizes, workloads)
    finally:
        signal.signal(signal.SIGTERM, previous)

    meta = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python", "bench/server_vs_mlflow.py", *(argv or sys.argv[1:])]),
        "modelyard_version": _version("modelyard"),
        "mlflow_version": _version("mlflow"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sizes": sizes,
        "elapsed_seconds": round(time.perf_counter() - began, 1),
    }
    rows = build_rows(raw, sizes)
    print_table(rows, meta)
    print(f"total time {meta['elapsed_seconds']} s")
    if args.json:
        document = {"meta": meta, "rows": [asdict(r) for r in rows], "raw": raw}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    missed = [r.workload.strip() for r in rows if r.passed is False]
    if missed:
        print("goals missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
