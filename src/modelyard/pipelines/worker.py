"""Running one step attempt, wherever it runs: this process, a worker process, a Ray task.

A :class:`StepTask` carries everything an attempt needs — the settings of the stores, the step
run id, the function, its plain-value arguments, the refs of its upstream outputs, and the
output names. :func:`execute` reads the inputs from the artifact store, calls the function with
the step run as the active run (so ``yard.log_metric`` inside a step logs to the step's run),
stores the outputs, flushes metrics and returns a plain :class:`TaskResult`. It never raises:
an exception in the step becomes ``ok=False`` with its traceback.

:func:`serve` is the loop of a local worker process (``python -c ... serve``): it reads
cloudpickled tasks from one pipe and writes results to another until the pipe closes, so a
worker whose coordinator died exits by itself.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.data import DatasetInfo
    from modelyard.pipelines.entities import OutputRef
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

__all__ = ["StepTask", "TaskResult", "execute", "execute_payload", "serve"]

_clients: dict[str, TrackingClient] = {}


@dataclass
class StepTask:
    """One attempt of one step: what to call and where to put the outputs."""

    settings: Settings
    run_id: str
    step: str
    experiment: str
    func: Any
    arguments: dict[str, Any]
    inputs: dict[str, OutputRef]
    outputs: tuple[str, ...]
    wants_model: bool = False


@dataclass
class TaskResult:
    """What an attempt produced: output refs and dataset records, or the error."""

    ok: bool
    outputs: list[OutputRef] = field(default_factory=list)
    datasets: list[DatasetInfo] = field(default_factory=list)
    error: str | None = None
    message: str | None = None
    seconds: float = 0.0
    pid: int = 0


def _client_for(settings: Settings) -> TrackingClient:
    key = repr(settings)
    client = _clients.get(key)
    if client is None:
        from modelyard.tracking import fluent
        from modelyard.tracking.client import TrackingClient

        if fluent.active_run() is None:
            fluent.configure(settings)
            client = fluent.get_client()
        else:  # pragma: no cover - a worker never has runs of its own
            client = TrackingClient(settings)
        # Open the store now: TrackingClient.buffer takes the client's lock and then asks
        # for .store, which takes the same lock when the store is not open yet (a deadlock
        # when a step's first tracking call is log_metric).
        _ = client.store
        _clients[key] = client
    return client


def _describe(exc: BaseException) -> tuple[str, str]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = f"{type(exc).__name__}: {exc}"
    return text[-8000:], message[:2000]


def execute(task: StepTask, client: TrackingClient | None = None) -> TaskResult:
    """Run one attempt of ``task``; never raises (errors come back in the result)."""
    started = time.perf_counter()
    try:
        if client is None:
            client = _client_for(task.settings)
        value = _call(task, client)
        outputs, datasets = _store(task, value, client)
        client.flush()
    except BaseException as exc:  # the step's own errors, reported not raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        text, message = _describe(exc)
        return TaskResult(
            ok=False,
            error=text,
            message=message,
            seconds=time.perf_counter() - started,
            pid=os.getpid(),
        )
    return TaskResult(
        ok=True,
        outputs=outputs,
        datasets=datasets,
        seconds=time.perf_counter() - started,
        pid=os.getpid(),
    )


def _call(task: StepTask, client: TrackingClient) -> Any:
    import inspect

    from modelyard.pipelines.outputs import load_output
    from modelyard.tracking import fluent

    arguments = dict(task.arguments)
    for name, ref in task.inputs.items():
        arguments[name] = load_output(ref, client)
    bound = inspect.BoundArguments(inspect.signature(task.func), arguments)  # type: ignore[arg-type]
    # Inside the step, yard.log_* write to the step's run, through this client's stores.
    run = fluent.ActiveRun(task.run_id, task.step, task.experiment, client)
    with fluent._lock:
        previous = fluent._client
        fluent._client = client
        fluent._runs.append(run)
    try:
        return task.func(*bound.args, **bound.kwargs)
    finally:
        with fluent._lock:
            if run in fluent._runs:
                fluent._runs.remove(run)
            if fluent._client is client:
                fluent._client = previous


def _store(
    task: StepTask, value: Any, client: TrackingClient
) -> tuple[list[OutputRef], list[DatasetInfo]]:
    from modelyard.errors import InvalidArgument
    from modelyard.pipelines.outputs import store_output

    if len(task.outputs) == 1:
        values = [value]
    else:
        if not isinstance(value, (tuple, list)) or len(value) != len(task.outputs):
            got = f"a {type(value).__name__}" + (
                f" of {len(value)}" if isinstance(value, (tuple, list)) else ""
            )
            raise InvalidArgument(
                f"step {task.step!r} declares {len(task.outputs)} outputs "
                f"({', '.join(task.outputs)}) but returned {got}",
                hint="return a tuple with one value per name in outputs=",
            )
        values = list(value)
    _log_metrics(task, values, client)
    refs, datasets = [], []
    for name, item in zip(task.outputs, values, strict=True):
        stored = store_output(
            item,
            name,
            artifacts=client.artifacts,
            client=client,
            run_id=task.run_id,
            wants_model=task.wants_model,
        )
        refs.append(stored.ref)
        if stored.dataset is not None:
            datasets.append(stored.dataset)
    return refs, datasets


def _log_metrics(task: StepTask, values: list[Any], client: TrackingClient) -> None:
    """A step that returns a dict of numbers reports them as metrics of its run."""
    import math

    from modelyard.errors import InvalidArgument

    for value in values:
        if not isinstance(value, dict) or not value:
            continue
        numbers = {
            k: float(v)
            for k, v in value.items()
            if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if len(numbers) != len(value) or not all(math.isfinite(v) for v in numbers.values()):
            continue
        try:
            client.log_metrics(task.run_id, numbers)
        except InvalidArgument:  # keys that are not valid metric names: stored as output only
            continue


def execute_payload(payload: bytes) -> TaskResult:
    """Unpickle a cloudpickled :class:`StepTask` and run it (the Ray task body)."""
    import pickle

    try:
        task = pickle.loads(payload)
    except BaseException as exc:
        text, message = _describe(exc)
        return TaskResult(ok=False, error=text, message=f"cannot load the step: {message}")
    return execute(task)


def _exit_with_parent() -> None:
    """Exit when the coordinator dies (even by SIGKILL), not when the running step ends."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="modelyard-parent-watch", daemon=True).start()


def serve(read_fd: int, write_fd: int) -> None:
    """Serve tasks from a pipe until it closes (the loop of a local worker process)."""
    import pickle
    from multiprocessing.connection import Connection

    _exit_with_parent()
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    sys.path[:0] = [p for p in inbox.recv() if p not in sys.path]
    while True:
        try:
            payload = inbox.recv_bytes()
        except (EOFError, OSError):
            break
        if not payload:
            break
        result = execute_payload(payload)
        try:
            outbox.send_bytes(pickle.dumps(result))
        except Exception as exc:  # an unpicklable dataset record, say: report, don't hang
            _, message = _describe(exc)
            fallback = TaskResult(ok=False, error=message, message=message, pid=os.getpid())
            outbox.send_bytes(pickle.dumps(fallback))
    for client in _clients.values():
        try:
            client.close()
        except Exception:
            pass
