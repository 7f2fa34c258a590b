"""Buffered metric logging: a training loop never waits on the database.

:meth:`MetricBuffer.add` appends a point to an in-memory list (a few hundred nanoseconds). A
background thread hands the points to the store in batches every ``flush_interval`` seconds,
or sooner once ``flush_size`` points are waiting. :meth:`MetricBuffer.flush` writes everything
now and raises if the store failed. The tracking client flushes on run end, at interpreter
exit and on SIGTERM.

The same thread also sends heartbeats for the runs this process has open, so a run whose
process was killed with SIGKILL can be told apart from one that is still working.

If a background write fails (say the database is briefly unreachable) the points stay in the
buffer, in order, and are retried on the next tick; the error is raised by the next
explicit :meth:`flush` if it still fails then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MetricBuffer"]

Point = tuple[str, str, float, int, int]


class MetricBuffer:
    """Collects metric points and writes them in batches from a background thread."""

    def __init__(
        self,
        write: Callable[[Sequence[Point]], Any],
        *,
        flush_interval: float = 1.0,
        flush_size: int = 10_000,
        heartbeat: Callable[[], Any] | None = None,
        heartbeat_interval: float = 30.0,
    ) -> None:
        self.write = write
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self._points: list[Point] = []
        self._lock = threading.Lock()  # guards _points
        self._write_lock = threading.Lock()  # one writer at a time keeps points in order
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._last_error: BaseException | None = None
        self._last_heartbeat = time.monotonic()

    def add(self, point: Point) -> None:
        """Queue one point ``(run_id, key, value, timestamp_ms, step)``."""
        with self._lock:
            self._points.append(point)
            size = len(self._points)
        if size >= self.flush_size:
            self._wake.set()
        if self._thread is None:
            self._start()

    def extend(self, new: Sequence[Point]) -> None:
        """Queue many points at once."""
        with self._lock:
            self._points.extend(new)
            size = len(self._points)
        if size >= self.flush_size:
            self._wake.set()
        if self._thread is None:
            self._start()

    def pending(self) -> int:
        """Points waiting to be written."""
        return len(self._points)

    def flush(self) -> int:
        """Write every queued point now; returns how many were written."""
        written = self._drain()
        if self._last_error is not None:
            error, self._last_error = self._last_error, None
            raise error
        return written

    def _drain(self) -> int:
        written = 0
        with self._write_lock:
            while True:
                with self._lock:
                    batch, self._points = self._points, []
                if not batch:
                    return written
                done = 0
                try:
                    for start in range(0, len(batch), 50_000):
                        chunk = batch[start : start + 50_000]
                        self.write(chunk)
                        done += len(chunk)
                    self._last_error = None
                except BaseException as exc:
                    # Put back what was not written, ahead of anything queued meanwhile.
                    with self._lock:
                        self._points[:0] = batch[done:]
                    self._last_error = exc
                    return written + done
                written += done

    def start(self) -> None:
        """Start the background thread now (it also starts with the first point)."""
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="modelyard-metric-flusher", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._points:
                self._drain()
            if (
                self.heartbeat is not None
                and time.monotonic() - self._last_heartbeat >= self.heartbeat_interval
            ):
                self._last_heartbeat = time.monotonic()
                try:
                    self.heartbeat()
                except Exception:  # a missed heartbeat is harmless; the next one retries
                    pass

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._stop = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self._stop = False
        self._drain()
