"""Remote mode specifics: errors by class, fail-fast without a server, retries after lost
answers that never duplicate a point, and per-call latency (no Nagle/delayed-ACK stalls)."""

from __future__ import annotations

import socket
import statistics
import time

import pytest

from dropping_proxy import DroppingProxy
from modelyard.errors import AlreadyExists, ConfigError, InvalidArgument, NotFound, StoreError
from modelyard.tracking.buffer import MetricBuffer
from modelyard.tracking.client import TrackingClient
from modelyard.tracking.remote import RemoteTrackingStore


@pytest.fixture
def client(live):
    c = TrackingClient(live.settings)
    yield c
    c.close()


def test_errors_come_back_as_the_same_classes(client):
    with pytest.raises(NotFound, match="run 'ffff' does not exist") as info:
        client.get_run("ffff")
    assert "modelyard runs list" in info.value.hint
    run_id = client.create_run("remote-errors")
    client.log_params(run_id, {"lr": 0.1})
    with pytest.raises(InvalidArgument, match="immutable"):
        client.log_params(run_id, {"lr": 0.2})
    client.create_experiment("remote-dup")
    with pytest.raises(AlreadyExists):
        client.create_experiment("remote-dup")
    with pytest.raises(InvalidArgument, match="status 'RUNNING'"):
        client.end_run(run_id, "RUNNING")
    client.end_run(run_id)


def test_no_server_fails_fast_naming_the_url(project):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed below: nothing listens there
    url = f"http://127.0.0.1:{port}"
    client = TrackingClient(project(tracking_uri=url))
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"cannot reach the Modelyard server at {url}") as info:
        client.create_run("nowhere")
    assert time.monotonic() - started < 5
    assert "modelyard server" in info.value.hint
    client.close()


def test_tracking_uri_must_be_http(project):
    client = TrackingClient(project(tracking_uri="localhost:5050"))
    with pytest.raises(ConfigError, match="not an http"):
        client.list_experiments()


def test_lost_answers_never_duplicate_points(live, client):
    run_id = client.create_run("lost-answers")
    proxy = DroppingProxy(live.url)
    settings = live.settings.replace(tracking_uri=proxy.url)
    store = RemoteTrackingStore(settings, retry_budget=0.8, first_contact_budget=0.8)
    buffer = MetricBuffer(store.log_metrics, flush_interval=3600)
    for step in range(500):
        buffer.add((run_id, "loss", float(step), 1000 + step, step))
    proxy.drop = True
    with pytest.raises(StoreError, match="did not answer"):
        buffer.flush()  # the server wrote the batch (several times over), no answer came back
    assert proxy.dropped >= 2
    assert len(client.get_metric_history(run_id, "loss")) == 500  # written, and only once
    for step in range(500, 800):
        buffer.add((run_id, "loss", float(step), 1000 + step, step))
    proxy.drop = False
    buffer.flush()  # the first 500 go again under their old batch id: the server skips them
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(800))
    proxy.drop_next = 1  # made on the first attempt, answer lost: the retry's 409 finds it
    assert store.create_experiment("made-once").name == "made-once"
    buffer.close()
    store.db.dispose()
    proxy.close()
    client.end_run(run_id)


def test_single_calls_are_fast(live, client):
    """One small request takes a couple of ms, not 40+: TCP_NODELAY on both sides.

    Without it every answer waits for the client's delayed ACK (~40 ms on Linux).
    """
    run_id = client.create_run("latency")
    store = client.store
    times = []
    for step in range(60):
        started = time.perf_counter()
        store.log_metrics([(run_id, "loss", 0.5, 1000, step)])
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.025, times
    client.end_run(run_id)
