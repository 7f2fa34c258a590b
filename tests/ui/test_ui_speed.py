"""The runs page of an experiment with 10,000 runs: server time to first byte.

The goal (issue 3) is 200 ms; the assertion is looser (1 s) because the test machine is shared
and noisy. Run with ``-s`` to see the medians.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import pytest

from modelyard.store.search import next_page_token

UIData = Any  # tests/ui/conftest.py: the session's stored data

REPEATS = 15
CASES = {
    "newest first": {},
    "sorted by a metric": {"order_by": "metrics.auc desc"},
    "filtered and sorted": {
        "filter": "metrics.auc > 0.5 and params.optimizer = 'adam'",
        "order_by": "metrics.loss asc",
    },
    "sorted by a param, picked columns": {
        "order_by": "params.depth asc",
        "columns": "metrics.auc,metrics.f1,params.depth,params.lr,tags.team",
    },
    "page 101": {"page_token": next_page_token(0, 5000)},
}


def _ttfb(client: httpx.Client, url: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    with client.stream("GET", url, params=params) as response:
        first = time.perf_counter()  # the status line and headers have arrived
        assert response.status_code == 200
        body = response.read()
    assert body.count(b"<tr data-run-id=") == 50
    return first - started


@pytest.mark.parametrize("case", list(CASES))
def test_runs_page_with_10000_runs_answers_fast(server, ui_data: UIData, case):
    params = CASES[case]
    url = f"{server}/experiments/{ui_data.big_id}"
    with httpx.Client(timeout=30) as client:
        for _ in range(2):  # warm up: connection, SQLite page cache, template compilation
            _ttfb(client, url, params)
        times = [_ttfb(client, url, params) for _ in range(REPEATS)]
    median = statistics.median(times)
    print(f"\n{ui_data.big_runs:,} runs, {case}: median TTFB {median * 1000:.1f} ms")
    assert median < 1.0
