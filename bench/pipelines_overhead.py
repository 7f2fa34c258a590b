"""Overhead of Modelyard pipelines: per step, per cache hit, and a 20-trial sweep on Ray vs local.

1. ``steps``: a chain of 100 trivial steps (``inc(x) = x + 1``) run by the in-process executor
   (``max_workers=0``) on a fresh SQLite store, against 100 plain calls of the same function.
   Each step is a tracked child run with its params, cache key, output artifact, dataset links
   and cache entry. Goal: at most 20 ms per step.
2. ``hits``: the same pipeline again — every step is a cache hit (key computed, entry looked up,
   blobs checked, a FINISHED child run recorded "cached from"). Goal: at most 5 ms per step.
3. ``sweep``: 20 trials of a two-step pipeline (a shared ``prepare`` and a ``train`` that works
   for about 50 ms) on the local executor (process pool, 2 workers) and on Ray (a local
   cluster of 2 CPUs started by the executor); both must finish every trial. Times include
   starting the workers (and Ray).

With ``--remote`` the client talks to a ``modelyard server`` started on 127.0.0.1 for the
run (a thread of this process, over the same kind of SQLite store): every pipeline record goes
over HTTP, as in remote mode (``MODELYARD_TRACKING_URI``).

Prefect is not installed here, so its figure for the same 100 tasks is not measured.

Usage::

    python bench/pipelines_overhead.py            # all three (about a minute; Ray needed for 3)
    python bench/pipelines_overhead.py --only steps --only hits
    python bench/pipelines_overhead.py --json results.json
    python bench/pipelines_overhead.py --remote --only steps --only hits
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import modelyard as yard
from modelyard.settings import Settings
from modelyard.tracking.client import TrackingClient

N_STEPS = 100
N_TRIALS = 20


def inc(x: int) -> int:
    return x + 1


inc_step = yard.step(name="inc")(inc)


@yard.pipeline
def chain(start: int = 0):
    x = start
    for _ in range(N_STEPS):
        x = inc_step(x)


@yard.step
def prepare(n: int):
    return list(range(n))


@yard.step
def train(xs, c: float):
    deadline = time.perf_counter() + 0.05
    total = 0.0
    while time.perf_counter() < deadline:
        total += sum(xs) * c
    return {"score": -((c - 1.0) ** 2)}


@yard.pipeline
def tuned(n: int = 100, c: float = 1.0):
    train(prepare(n), c)


_servers: list[Any] = []


def _client(folder: str, remote: bool = False) -> TrackingClient:
    settings = Settings.load(project_root=folder)
    if not remote:
        return TrackingClient(settings)
    from modelyard.server.runner import ThreadedServer

    server = ThreadedServer(settings).start()
    _servers.append(server)
    return TrackingClient(settings.replace(tracking_uri=server.url))


def bench_steps(folder: str, remote: bool = False) -> dict[str, Any]:
    client = _client(folder, remote)
    plain_started = time.perf_counter()
    x = 0
    for _ in range(N_STEPS):
        x = inc(x)
    plain = time.perf_counter() - plain_started
    started = time.perf_counter()
    first = chain.run(max_workers=0, client=client)
    seconds = time.perf_counter() - started
    assert first.status == "FINISHED" and not first.cached_steps, first.error
    assert first.output(f"inc_{N_STEPS}", client=client) == N_STEPS
    started = time.perf_counter()
    second = chain.run(max_workers=0, client=client)
    hit_seconds = time.perf_counter() - started
    assert len(second.cached_steps) == N_STEPS
    client.close()
    return {
        "steps": N_STEPS,
        "plain_ms_total": plain * 1000,
        "pipeline_ms_total": seconds * 1000,
        "ms_per_step": (seconds - plain) * 1000 / N_STEPS,
        "hit_ms_total": hit_seconds * 1000,
        "ms_per_cache_hit": hit_seconds * 1000 / N_STEPS,
    }


def bench_sweep(
    folder: str, executor: str, offset: int = 0, remote: bool = False
) -> dict[str, Any]:
    client = _client(folder, remote)
    grid = {"c": [0.1 * i + offset for i in range(N_TRIALS)]}
    started = time.perf_counter()
    result = yard.sweep(
        tuned, grid=grid, metric="score", executor=executor, max_workers=2, client=client
    )
    seconds = time.perf_counter() - started
    finished = sum(t.run.status == "FINISHED" for t in result.trials)
    client.close()
    return {
        "executor": executor,
        "trials": N_TRIALS,
        "finished": finished,
        "seconds": seconds,
        "best": result.best.params if result.best else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=["steps", "hits", "sweep"])
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--remote", action="store_true", help="through a modelyard server on 127.0.0.1"
    )
    args = parser.parse_args()
    only = set(args.only or ["steps", "hits", "sweep"])
    results: dict[str, Any] = {}
    root = tempfile.mkdtemp(prefix="modelyard-bench-")
    try:
        if only & {"steps", "hits"}:
            results["steps"] = bench_steps(os.path.join(root, "steps"), args.remote)
            if args.remote:
                print("remote mode: through modelyard server on 127.0.0.1")
            s = results["steps"]
            print(f"100 plain calls:          {s['plain_ms_total']:.3f} ms")
            print(
                f"100 steps, first run:     {s['pipeline_ms_total']:.0f} ms = "
                f"{s['ms_per_step']:.1f} ms/step (goal <= 20)  "
                f"{'PASS' if s['ms_per_step'] <= 20 else 'MISS'}"
            )
            print(
                f"100 steps, all cached:    {s['hit_ms_total']:.0f} ms = "
                f"{s['ms_per_cache_hit']:.1f} ms/hit (goal <= 5)  "
                f"{'PASS' if s['ms_per_cache_hit'] <= 5 else 'MISS'}"
            )
        if "sweep" in only:
            results["sweep"] = []
            runs = [("local", 0, ""), ("ray", 0, " (cold: starts Ray)"), ("ray", 100, " (warm)")]
            for executor, offset, note in runs:
                try:
                    folder = os.path.join(root, f"{executor}{offset}")
                    r = bench_sweep(folder, executor, offset, args.remote)
                except Exception as exc:  # Ray missing or failing: say so, keep the others
                    print(f"sweep on {executor}: not measured ({type(exc).__name__}: {exc})")
                    continue
                results["sweep"].append({**r, "note": note.strip(" ()")})
                print(
                    f"{N_TRIALS}-trial sweep, {executor:5}:  {r['seconds']:.1f} s, "
                    f"{r['finished']}/{r['trials']} trials finished{note}"
                )
        print("Prefect: not installed here; not measured")
    finally:
        for server in _servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as fileobj:
            json.dump(results, fileobj, indent=2)


if __name__ == "__main__":
    main()
