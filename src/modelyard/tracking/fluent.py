"""The one-line tracking API: ``with yard.start_run(): yard.log_metric(...)``.

One process-wide :class:`~modelyard.tracking.client.TrackingClient`, built from
``Settings.load()`` on first use (or by :func:`configure`), plus a stack of active runs so
nested runs work. A run started with ``with`` ends FINISHED, FAILED (an exception; its text is
recorded) or KILLED (Ctrl-C). At interpreter exit buffered points are flushed and runs still
open are ended; on SIGTERM they are flushed and ended KILLED before the previous handler runs.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from modelyard.errors import InvalidState
from modelyard.settings import Settings
from modelyard.tracking.client import TrackingClient, run_name
from modelyard.tracking.entities import FAILED, FINISHED, KILLED, Artifact, Metric, Run, RunList

__all__ = [
    "ActiveRun",
    "active_run",
    "configure",
    "end_run",
    "flush",
    "get_client",
    "get_metric_history",
    "get_run",
    "list_experiments",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_output",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]

_client: TrackingClient | None = None
_experiment: str | None = None
_runs: list[ActiveRun] = []
_lock = threading.RLock()
_hooks_installed = False
_uncaught: BaseException | None = None


class ActiveRun:
    """A run this process has started. Use it as a context manager to end it."""

    def __init__(self, run_id: str, name: str, experiment: str, client: TrackingClient) -> None:
        self.run_id = run_id
        self.name = name
        self.experiment = experiment
        self._client = client
        self.ended = False

    @property
    def id(self) -> str:
        return self.run_id

    def __repr__(self) -> str:
        return f"ActiveRun(run_id={self.run_id!r}, name={self.name!r})"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            _end(self, FINISHED)
        elif isinstance(exc, (KeyboardInterrupt, SystemExit)) and not (
            isinstance(exc, SystemExit) and exc.code in (0, None)
        ):
            _end(self, KILLED, error=f"{type(exc).__name__}: interrupted")
        elif isinstance(exc, SystemExit):
            _end(self, FINISHED)
        else:
            _end(self, FAILED, error=_describe(exc))

    def to_run(self) -> Run:
        """The stored run, with everything logged so far."""
        return self._client.get_run(self.run_id)


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-8000:]


def configure(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Point the SDK at other stores: ``yard.configure(database_url=..., artifact_url=...)``.

    Flushes and closes the current client; active runs must be ended first.
    """
    global _client
    with _lock:
        if _runs:
            raise InvalidState(
                f"run {_runs[-1].run_id} is active; end it before calling configure()",
            )
        if settings is None:
            settings = Settings.load(**overrides)
        elif overrides:
            settings = settings.replace(**overrides)
        if _client is not None:
            _client.close()
        _client = TrackingClient(settings)
        return settings


def get_client() -> TrackingClient:
    """The process-wide client (built from ``Settings.load()`` on first use)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = TrackingClient(Settings.load())
    return _client


def set_experiment(name: str) -> None:
    """Make ``name`` the experiment of the next runs (created when first used)."""
    global _experiment
    from modelyard.tracking.validation import validate_name

    _experiment = validate_name(name, "experiment")
    get_client().get_or_create_experiment(_experiment)


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
) -> ActiveRun:
    """Start a run; use it with ``with`` so it ends FINISHED, FAILED or KILLED by itself.

    >>> with yard.start_run(name="baseline") as run:   # doctest: +SKIP
    ...     yard.log_metric("loss", 0.3)
    """
    client = get_client()
    with _lock:
        if _runs and not nested:
            raise InvalidState(
                f"run {_runs[-1].run_id} ({_runs[-1].name}) is already active",
                hint="end it with yard.end_run(), or pass nested=True to start a child run",
            )
        exp = experiment or (_runs[-1].experiment if _runs else None) or _experiment
        exp = exp or client.config.experiment_name
        parent = _runs[-1].run_id if _runs else None
        run_id = client.create_run(exp, name=name, parent_run_id=parent, tags=tags)
        run = ActiveRun(run_id, name or run_name(run_id), exp, client)
        _runs.append(run)
        _install_hooks()
    return run


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    return _runs[-1] if _runs else None


def _current() -> ActiveRun:
    if not _runs:
        raise InvalidState(
            "no active run",
            hint="wrap your code in: with yard.start_run(): ...",
        )
    return _runs[-1]


def _end(run: ActiveRun, status: str, error: str | None = None) -> None:
    with _lock:
        if run.ended:
            return
        run.ended = True
        if run in _runs:
            _runs.remove(run)
    run._client.end_run(run.run_id, status, error=error)


def end_run(status: str = FINISHED) -> None:
    """End the innermost active run."""
    _end(_current(), status)


def flush() -> int:
    """Write buffered metric points now; returns how many were written."""
    return get_client().flush()


def log_param(key: str, value: Any) -> None:
    """Record one param of the active run (params cannot change once set)."""
    get_client().log_params(_current().run_id, {key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Record params of the active run."""
    get_client().log_params(_current().run_id, params)


def log_metric(key: str, value: float, step: int = 0, *, timestamp: int | None = None) -> None:
    """Record a metric point of the active run (buffered; NaN and ±inf are kept)."""
    if not _runs:
        _current()
    get_client().log_metric(_runs[-1].run_id, key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int = 0) -> None:
    """Record several metrics of the active run at one step."""
    get_client().log_metrics(_current().run_id, metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run."""
    get_client().set_tags(_current().run_id, {key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags of the active run."""
    get_client().set_tags(_current().run_id, tags)


def log_input(data: object, name: str, context: str = "", *, profile: bool = True) -> Any:
    """Record a dataset the active run read: a DataFrame, ndarray, file or folder.

    Stores its full-content digest, shape, schema and a per-column profile; returns the
    :class:`~modelyard.data.DatasetInfo`.
    """
    return get_client().log_dataset(
        _current().run_id, data, name=name, context=context, direction="input", profile=profile
    )


def log_output(data: object, name: str, context: str = "", *, profile: bool = True) -> Any:
    """Record a dataset the active run wrote (same forms as :func:`log_input`)."""
    return get_client().log_dataset(
        _current().run_id, data, name=name, context=context, direction="output", profile=profile
    )


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> Artifact:
    """Store a file with the active run."""
    return get_client().log_artifact(_current().run_id, local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[Artifact]:
    """Store every file of a folder with the active run."""
    return get_client().log_artifacts(_current().run_id, local_dir, artifact_path)


def log_dict(data: Mapping[str, Any], artifact_path: str) -> Artifact:
    """Store a dictionary as a JSON artifact of the active run."""
    return get_client().log_dict(_current().run_id, data, artifact_path)


def log_text(text: str, artifact_path: str) -> Artifact:
    """Store a text as an artifact of the active run."""
    return get_client().log_text(_current().run_id, text, artifact_path)


def get_run(run_id: str) -> Run:
    """A run by id (a unique prefix of at least 4 characters also works)."""
    return get_client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of a metric of a run."""
    return get_client().get_metric_history(run_id, key)


def search_runs(
    experiments: str | int | Sequence[str | int] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str = (),
    max_results: int = 100,
    page_token: str | None = None,
) -> RunList:
    """Runs matching a filter such as ``"metrics.auc > 0.9 and params.model = 'rf'"``.

    Returns a :class:`~modelyard.tracking.entities.RunList` (``.to_pandas()``,
    ``.next_page_token``). See docs/search.md for the language.
    """
    if experiments is None and _experiment is not None:
        experiments = _experiment
    return get_client().search_runs(experiments, filter, order_by, max_results, page_token)


def list_experiments() -> list[Any]:
    """Every experiment as ``(Experiment, run count, latest start time)``."""
    return get_client().list_experiments()


# -- process exit and signals -----------------------------------------------------------------


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def _excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        global _uncaught
        _uncaught = exc
        previous_hook(exc_type, exc, tb)

    sys.excepthook = _excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.getsignal(signal.SIGTERM)
        except (ValueError, OSError):  # pragma: no cover - embedded interpreters
            return

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            _end_all(KILLED, "SIGTERM: the process was asked to stop")
            if callable(previous):
                previous(signum, frame)
                return
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        if previous in (signal.SIG_DFL, None) or callable(previous):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _end_all(status: str, error: str | None) -> None:
    for run in list(reversed(_runs)):
        try:
            _end(run, status, error=error)
        except Exception as exc:  # report and keep ending the others
            print(f"modelyard: could not end run {run.run_id}: {exc}", file=sys.stderr)
    if _client is not None:
        try:
            _client.flush()
        except Exception as exc:
            print(f"modelyard: could not flush metric points: {exc}", file=sys.stderr)


def _at_exit() -> None:
    if _uncaught is not None:
        _end_all(FAILED, _describe(_uncaught))
    else:
        _end_all(FINISHED, None)
