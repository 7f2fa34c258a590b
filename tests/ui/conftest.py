"""Fixtures for the UI tests: a populated store, the app, a real uvicorn server and Chromium.

One session builds everything once: a project in a temporary folder whose SQLite store holds
the experiment ``churn`` (60 small runs, a rich run with thousands of metric points, a dataset
with a profile, artifacts of every preview kind and a code diff, a failed run and a child run),
all logged through the real SDK (``TrackingClient``), and the experiment ``big`` with 10,000
runs bulk-inserted into the real tables for the speed test. The app is a plain FastAPI app with
the three ``app.state`` attributes the UI reads and :func:`modelyard.ui.mount_ui`; it is served
by uvicorn on 127.0.0.1 (port 0) in a thread. Browser tests drive Debian's Chromium through
Playwright and fail if any request leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ui_tabs import watched_tab

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BIG_RUNS = 10_000
LOSS_POINTS = 12_000
ACCURACY_POINTS = 300
CHURN_RUNS = 60


def png_bytes(width: int, height: int) -> bytes:
    """A real RGB PNG (a colour gradient), encoded with zlib: signature, IHDR, IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes((x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), 160))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


DIFF_TEXT = """diff --git a/train.py b/train.py
index 3b18e51..a9c4f2d 100644
--- a/train.py
+++ b/train.py
@@ -1,5 +1,6 @@
 import modelyard as yard
-LEARNING_RATE = 0.1
+LEARNING_RATE = 0.05
+EPOCHS = 20
 
 def main():
     yard.log_param("lr", LEARNING_RATE)
"""


@dataclass(frozen=True)
class UIData:
    """What the session stored, for the tests to look for."""

    root: Path
    settings: Any
    churn_id: int
    big_id: int
    rich_run: str
    failed_run: str
    child_run: str
    small_runs: tuple[str, ...]
    png: bytes
    csv_text: str
    config: dict[str, Any]
    weights: bytes
    churn_runs: int = CHURN_RUNS
    loss_points: int = LOSS_POINTS
    accuracy_points: int = ACCURACY_POINTS
    big_runs: int = BIG_RUNS


def _populate(root: Path) -> UIData:
    import numpy as np
    import pandas as pd

    from modelyard.settings import Settings
    from modelyard.tracking.client import CODE_DIFF_ARTIFACT, TrackingClient

    settings = Settings.load(
        environ={},
        project_root=str(root),
        artifact_url=str(root / "artifacts"),
        capture_code=False,
        flush_interval=0.2,
    )
    client = TrackingClient(settings)
    try:
        start = 1_717_200_000_000
        small = []
        for i in range(CHURN_RUNS):
            run_id = client.create_run("churn", name=f"run-{i:03d}", tags={"team": "ab"[i % 2]})
            client.log_params(
                run_id,
                {
                    "lr": f"0.{i % 5 + 1}",
                    "num_leaves": str(16 + i % 4 * 8),
                    "optimizer": "adam" if i % 3 else "sgd",
                },
            )
            for step in range(20):
                client.log_metric(run_id, "loss", 1.0 / (step + 1 + i), step, start + step * 1000)
            client.log_metric(run_id, "auc", 0.5 + i / 200, 20, start + 20_000)
            client.end_run(run_id)
            small.append(run_id)

        rich = client.create_run(
            "churn",
            name="rich-run",
            tags={"team": "core", "stage": "dev", "note": "<b>bold</b> & 'quoted'"},
        )
        client.log_params(rich, {"lr": "0.05", "num_leaves": "31", "optimizer": "adam"})
        rng = np.random.default_rng(0)
        noise = rng.normal(0, 0.02, LOSS_POINTS)
        for step in range(LOSS_POINTS):
            value = float(np.exp(-step / 3000) + noise[step])
            client.log_metric(rich, "loss", value, step, start + step * 100)
        for step in range(ACCURACY_POINTS):
            client.log_metric(rich, "accuracy", step / ACCURACY_POINTS, step, start + step * 4000)
        for step in range(30):
            client.log_metric(rich, "val loss", 1.0 - step / 60, step, start + step * 40_000)
        client.log_metric(rich, "auc", 0.97, 0)
        frame = pd.DataFrame(
            {
                "age": rng.integers(18, 90, 500),
                "income": rng.normal(50_000, 12_000, 500),
                "city": rng.choice(["Oslo", "Rome", "Lima", "Pune"], 500),
                "churned": rng.random(500) < 0.2,
            }
        )
        client.log_dataset(rich, frame, name="train", context="training")
        png = png_bytes(64, 48)
        client.log_bytes(rich, png, "plots/curve.png")
        client.log_text(rich, "trained for 12,000 steps\nbest auc 0.97\n", "notes.txt")
        config = {"model": {"kind": "lgbm", "num_leaves": 31}, "features": ["age", "income"]}
        client.log_bytes(rich, json.dumps(config, separators=(",", ":")).encode(), "config.json")
        csv_lines = ["id,age,city"] + [f"{i},{20 + i},city-{i}" for i in range(30)]
        csv_text = "\n".join(csv_lines) + "\n"
        client.log_text(rich, csv_text, "data/sample.csv")
        weights = bytes(rng.integers(0, 256, 4096, dtype=np.uint8))
        client.log_bytes(rich, weights, "model/weights.bin")
        diff = client.log_text(rich, DIFF_TEXT, CODE_DIFF_ARTIFACT)
        client.store.update_code(
            rich,
            {
                "repo_root": str(root),
                "commit": "3b18e51c0ffee0ddba11c0de5eed1deadbeef000",
                "branch": "main",
                "remote": "https://example.invalid/acme/churn.git",
                "dirty": True,
                "diff_truncated": False,
                "diff_digest": diff.digest,
                "diff_artifact": CODE_DIFF_ARTIFACT,
                "untracked": {},
                "entry_point": "train.py",
                "argv": ["--epochs", "20"],
            },
        )
        child = client.create_run("churn", name="child-run", parent_run_id=rich)
        client.log_metric(child, "loss", 0.5, 0)
        client.end_run(child)
        client.end_run(rich)

        failed = client.create_run("churn", name="broken-run")
        client.end_run(
            failed,
            "FAILED",
            error='Traceback (most recent call last):\n  File "train.py", line 9\n'
            "ValueError: bad input",
        )
        churn_id = client.get_experiment("churn").experiment_id
        big_id = _bulk_experiment(client.store, BIG_RUNS)
    finally:
        client.close()
    return UIData(
        root=root,
        settings=settings,
        churn_id=churn_id,
        big_id=big_id,
        rich_run=rich,
        failed_run=failed,
        child_run=child,
        small_runs=tuple(small),
        png=png,
        csv_text=csv_text,
        config=config,
        weights=weights,
    )


def _bulk_experiment(store: Any, count: int) -> int:
    """An experiment of ``count`` runs with 3 params, 3 metrics and a tag each, inserted in bulk.

    Only ``latest_metrics`` is filled (what the runs table reads), not the point history.
    """
    from sqlalchemy import insert

    from modelyard.store import tables as t

    experiment = store.create_experiment("big", "10,000 runs for the speed test")
    base = 1_718_000_000_000
    runs, params, latest, tags = [], [], [], []
    for i in range(count):
        run_id = uuid.uuid4().hex
        start = base + i * 1000
        runs.append(
            {
                "run_id": run_id,
                "experiment_id": experiment.experiment_id,
                "name": f"bulk-{i:05d}",
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + 60_000 + i % 97 * 1000,
                "user": "bench",
                "host": "localhost",
            }
        )
        params += [
            {"run_id": run_id, "key": "lr", "value": f"0.{i % 9 + 1}"},
            {"run_id": run_id, "key": "depth", "value": str(i % 12)},
            {"run_id": run_id, "key": "optimizer", "value": ("adam", "sgd", "lion")[i % 3]},
        ]
        for key, value in (
            ("auc", (i * 7919 % count) / count),
            ("loss", 1 - (i * 104_729 % count) / count),
            ("f1", (i % 101) / 101),
        ):
            latest.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "step": 100,
                    "timestamp": start + 50_000,
                    "value": value,
                    "is_nan": False,
                }
            )
        tags.append({"run_id": run_id, "key": "team", "value": ("risk", "growth")[i % 2]})
    with store.db.write() as conn:
        conn.execute(insert(t.runs), runs)
        conn.execute(insert(t.params), params)
        conn.execute(insert(t.latest_metrics), latest)
        conn.execute(insert(t.tags), tags)
    return int(experiment.experiment_id)


@pytest.fixture(scope="session")
def ui_data(tmp_path_factory: pytest.TempPathFactory) -> UIData:
    return _populate(tmp_path_factory.mktemp("ui-project"))


@pytest.fixture(scope="session")
def app(ui_data: UIData) -> Iterator[Any]:
    """A FastAPI app with the UI mounted on the session's stores."""
    from fastapi import FastAPI

    from modelyard.artifacts import open_artifact_store
    from modelyard.store.database import Database
    from modelyard.tracking.sqlstore import SqlTrackingStore
    from modelyard.ui import mount_ui

    db = Database.open(ui_data.settings.database_url)
    application = FastAPI()
    application.state.store = SqlTrackingStore(db)
    application.state.artifacts = open_artifact_store(ui_data.settings.artifact_url)
    application.state.settings = ui_data.settings
    mount_ui(application)
    yield application
    db.dispose()


@pytest.fixture(scope="session")
def asgi_get() -> Iterator[Any]:
    """``get(app, path, **kwargs)``: a request to an app in-process (httpx ``ASGITransport``).

    The requests run on an event loop in a thread of their own: once Playwright's sync API has
    started, the main thread already has a running loop.
    """
    import asyncio

    import httpx

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ui-asgi-loop", daemon=True)
    thread.start()

    def get(application: Any, path: str, **kwargs: Any) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://ui.test") as c:
                return await c.get(path, **kwargs)

        return asyncio.run_coroutine_threadsafe(fetch(), loop).result(timeout=60)

    yield get
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="session")
def server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a free port), in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ui-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never `playwright install`).

    Module scope, not session: while Playwright's sync API runs, the main thread has a running
    event loop (``asyncio.run`` fails there), so it is stopped when the browser tests end.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install chromium); CI installs it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser_context(browser: Any) -> Iterator[Any]:
    """One context for all browser tests, so its HTTP cache keeps Plotly.js between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: Any, server: str) -> Iterator[Any]:
    """A fresh page at 1280 px; fails the test if a request left 127.0.0.1 or a script threw."""
    with watched_tab(browser_context) as tab:
        yield tab
