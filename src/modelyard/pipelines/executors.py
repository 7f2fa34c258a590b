"""Where step attempts run: in this process, in a pool of worker processes, or on Ray.

Every executor has the same four verbs — ``submit`` a :class:`~modelyard.pipelines.worker.
StepTask` (returns a handle), ``wait`` for finished attempts, ``cancel`` (kill) one, ``close`` —
so the runner treats them alike: same retries, timeouts, cache and lineage everywhere.

- :class:`InlineExecutor` runs each attempt in the calling process, at once (the lowest
  overhead; ``max_workers=0``). A step with a timeout still runs in a worker process, because
  only a process can be killed.
- :class:`ProcessExecutor` keeps up to ``max_workers`` worker processes, started on demand as
  fresh interpreters (``python -c ...``; no ``fork`` of a process that has threads), fed
  cloudpickled tasks through pipes. A timed-out attempt's worker is killed and replaced; a
  worker that dies mid-task fails that attempt with its exit code.
- :class:`RayExecutor` submits each attempt as a Ray task with the step's resources
  (``num_cpus``, ``num_gpus``, ``memory``) on the cluster at ``RAY_ADDRESS`` or a local one it
  starts; a timed-out task is cancelled with ``force=True``, which kills its worker.

Functions of the user's project are pickled by value, so workers need only Modelyard and the
installed libraries, not the user's files. Outputs go through the artifact store.
"""

from __future__ import annotations

import itertools
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import ConfigError, InvalidArgument
from modelyard.pipelines.worker import StepTask, TaskResult, execute

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from modelyard.pipelines.steps import StepOptions
    from modelyard.tracking.client import TrackingClient

__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "dump_task",
    "open_executor",
]

EXECUTORS = ("local", "inline", "ray")
_pickle_lock = threading.Lock()
_WORKER_CODE = (
    "import sys; from modelyard.pipelines.worker import serve; "
    "serve(int(sys.argv[1]), int(sys.argv[2]))"
)


class Executor(Protocol):
    """What the runner needs from an executor."""

    name: str

    def submit(self, task: StepTask, options: StepOptions, modules: list[str]) -> int: ...

    def wait(self, timeout: float | None) -> list[tuple[int, TaskResult]]: ...

    def cancel(self, handle: int) -> None: ...

    def close(self) -> None: ...


def dump_task(task: StepTask, modules: list[str]) -> bytes:
    """Cloudpickle ``task``, with the user's ``modules`` pickled by value."""
    import cloudpickle  # type: ignore[import-untyped]

    with _pickle_lock:
        registered = []
        for name in modules:
            module = sys.modules.get(name)
            if module is None or name == "__main__":
                continue
            try:
                cloudpickle.register_pickle_by_value(module)
                registered.append(module)
            except ValueError:  # already registered
                continue
        try:
            return bytes(cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        finally:
            for module in registered:
                cloudpickle.unregister_pickle_by_value(module)


class _Ids:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new(self) -> int:
        return next(self._next)


class InlineExecutor:
    """Runs attempts in this process; steps with a timeout go to one worker process."""

    name = "inline"

    def __init__(self, client: TrackingClient) -> None:
        self.client = client
        self._ids = _Ids()
        self._done: list[tuple[int, TaskResult]] = []
        self._pool: ProcessExecutor | None = None
        self._pool_ids: dict[int, int] = {}

    def submit(self, task: StepTask, options: StepOptions, modules: list[str]) -> int:
        handle = self._ids.new()
        if options.timeout is not None:
            if self._pool is None:
                self._pool = ProcessExecutor(1)
            self._pool_ids[self._pool.submit(task, options, modules)] = handle
            return handle
        self._done.append((handle, execute(task, self.client)))
        return handle

    def wait(self, timeout: float | None) -> list[tuple[int, TaskResult]]:
        if self._done:
            done, self._done = self._done, []
            return done
        if self._pool is None or not self._pool_ids:
            return []
        return [(self._pool_ids.pop(h), r) for h, r in self._pool.wait(timeout)]

    def cancel(self, handle: int) -> None:
        for pool_handle, mine in list(self._pool_ids.items()):
            if mine == handle and self._pool is not None:
                self._pool.cancel(pool_handle)
                del self._pool_ids[pool_handle]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], inbox: Connection, outbox: Connection):
        self.proc = proc
        self.inbox = inbox
        self.outbox = outbox
        self.handle: int | None = None

    def kill(self) -> int | None:
        for conn in (self.inbox, self.outbox):
            try:
                conn.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            return None


def _start_worker() -> _Worker:
    from multiprocessing.connection import Connection

    import modelyard

    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(modelyard.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(to_child_r), str(to_parent_w)],
            pass_fds=(to_child_r, to_parent_w),
            stdin=subprocess.DEVNULL,
            env=env,
        )
    finally:
        os.close(to_child_r)
        os.close(to_parent_w)
    inbox = Connection(to_child_w, readable=False)
    outbox = Connection(to_parent_r, writable=False)
    inbox.send([p for p in sys.path if p])
    return _Worker(proc, inbox, outbox)


class ProcessExecutor:
    """Up to ``max_workers`` worker processes, started on demand and reused."""

    name = "local"

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self._ids = _Ids()
        self._workers: list[_Worker] = []
        self._queue: deque[tuple[int, bytes]] = deque()
        self._done: list[tuple[int, TaskResult]] = []

    def submit(self, task: StepTask, options: StepOptions, modules: list[str]) -> int:
        handle = self._ids.new()
        self._queue.append((handle, dump_task(task, modules)))
        self._dispatch()
        return handle

    def _dispatch(self) -> None:
        while self._queue:
            worker = next((w for w in self._workers if w.handle is None), None)
            if worker is None:
                if len(self._workers) >= self.max_workers:
                    return
                worker = _start_worker()
                self._workers.append(worker)
            handle, payload = self._queue.popleft()
            try:
                worker.inbox.send_bytes(payload)
            except OSError:
                code = worker.kill()
                self._workers.remove(worker)
                self._done.append((handle, _died(code)))
                continue
            worker.handle = handle

    def wait(self, timeout: float | None) -> list[tuple[int, TaskResult]]:
        from multiprocessing.connection import wait

        if self._done:
            done, self._done = self._done, []
            return done
        busy = {w.outbox: w for w in self._workers if w.handle is not None}
        if not busy:
            return []
        results: list[tuple[int, TaskResult]] = []
        for conn in wait(list(busy), timeout):
            worker = busy[conn]  # type: ignore[index]
            handle = worker.handle
            assert handle is not None
            try:
                result: TaskResult = pickle.loads(worker.outbox.recv_bytes())
            except (EOFError, OSError):
                code = worker.kill()
                self._workers.remove(worker)
                result = _died(code)
            worker.handle = None
            results.append((handle, result))
        self._dispatch()
        return results

    def cancel(self, handle: int) -> None:
        for queued in list(self._queue):
            if queued[0] == handle:
                self._queue.remove(queued)
                return
        for worker in list(self._workers):
            if worker.handle == handle:
                worker.kill()
                self._workers.remove(worker)
        self._dispatch()

    def close(self) -> None:
        for worker in self._workers:
            try:
                worker.inbox.close()  # the worker sees the end of its pipe and exits
            except OSError:
                pass
        for worker in self._workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            worker.kill()
        self._workers = []


def _died(code: int | None) -> TaskResult:
    message = f"the worker process died (exit code {code})"
    return TaskResult(ok=False, error=message, message=message)


class RayExecutor:
    """Each attempt a Ray task, on the cluster at ``RAY_ADDRESS`` or a local one."""

    name = "ray"

    def __init__(self, max_workers: int | None) -> None:
        self.ray = _init_ray(max_workers)
        from modelyard.pipelines.worker import execute_payload

        self._remote = self.ray.remote(execute_payload)
        self._ids = _Ids()
        self._refs: dict[Any, int] = {}

    def submit(self, task: StepTask, options: StepOptions, modules: list[str]) -> int:
        handle = self._ids.new()
        resources = options.resources
        custom = {k: v for k, v in resources.items() if k not in ("num_cpus", "num_gpus", "memory")}
        ref = self._remote.options(
            num_cpus=resources.get("num_cpus", 1),
            num_gpus=resources.get("num_gpus", 0),
            memory=resources.get("memory") or None,
            resources=custom or None,
            max_retries=0,
            name=f"modelyard-step-{task.step}",
        ).remote(dump_task(task, modules))
        self._refs[ref] = handle
        return handle

    def wait(self, timeout: float | None) -> list[tuple[int, TaskResult]]:
        if not self._refs:
            return []
        refs = list(self._refs)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            handle = self._refs.pop(ref)
            try:
                result = self.ray.get(ref)
            except Exception as exc:  # a worker crash or a cancelled task
                message = f"the Ray task failed: {type(exc).__name__}: {exc}"[:2000]
                result = TaskResult(ok=False, error=message, message=message)
            out.append((handle, result))
        return out

    def cancel(self, handle: int) -> None:
        for ref, mine in list(self._refs.items()):
            if mine == handle:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:
                    pass
                del self._refs[ref]

    def close(self) -> None:
        for handle in list(self._refs.values()):
            self.cancel(handle)


def _init_ray(max_workers: int | None) -> Any:
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "the ray executor needs Ray, which is not installed",
                hint="pip install 'modelyard[ray]'",
            ) from exc
        if ray.is_initialized():
            return ray
        import modelyard

        package_root = os.path.dirname(os.path.dirname(os.path.abspath(modelyard.__file__)))
        if os.environ.get("RAY_ADDRESS"):  # Ray's own variable: join that cluster
            ray.init(logging_level=logging.WARNING, log_to_driver=True)
            return ray
        temp_dir = tempfile.mkdtemp(
            prefix="modelyard-ray-", dir="/tmp" if os.path.isdir("/tmp") else None
        )
        python_path = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p
        )
        ray.init(
            num_cpus=max_workers or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=200 * 1024 * 1024,
            logging_level=logging.WARNING,
            _temp_dir=temp_dir,
            runtime_env={"env_vars": {"PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}},
        )
    return ray


def open_executor(
    name: str, max_workers: int | None, client: TrackingClient
) -> InlineExecutor | ProcessExecutor | RayExecutor:
    """The executor called ``name`` (``local``, ``inline`` or ``ray``)."""
    if name not in EXECUTORS:
        raise InvalidArgument(
            f"unknown executor {name!r}", hint=f"use one of: {', '.join(EXECUTORS)}"
        )
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 0
    ):
        raise InvalidArgument(
            f"max_workers must be an int >= 0, got {max_workers!r}",
            hint="0 runs every step in this process; N runs up to N steps at once",
        )
    if name == "ray":
        return RayExecutor(max_workers or None)
    if name == "inline" or max_workers == 0:
        return InlineExecutor(client)
    return ProcessExecutor(max_workers or min(os.cpu_count() or 1, 8))
