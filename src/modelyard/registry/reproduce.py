"""Verified reproduce: rerun the recipe of a model version and check its metrics match.

:func:`reproduce` takes a model version and, from what its run recorded:

1. checks out the recorded commit in a temporary ``git worktree`` of the recorded repository
   (or ``repo=``), applies the recorded uncommitted diff (``_modelyard/code.diff``) and copies
   in the untracked source files whose recorded digest still matches;
2. checks that every input dataset read from a file or folder is still there with the same
   content digest (in-memory inputs — DataFrames, arrays — cannot be checked and are listed as
   such); datasets under the repository are linked into the worktree at the same place;
3. compares the recorded environment with this one and warns about each difference;
4. reruns ``python <entry_point> <argv...>`` in the worktree with this Python, tracked into the
   same stores and tagged ``modelyard.reproduce_id`` so the new run can be found;
5. compares the new run's metrics with the original's within a tolerance
   (``|a - b| <= max(tolerance * max(|a|, |b|), abs_tolerance)``) and records the verdict on
   the version (``ModelVersion.reproduce``) and in its history.

The verdict is ``reproduced``, ``differs`` (naming each metric and its delta) or
``could_not_run`` (naming what was missing: the repository, a dataset, the diff, ...). Only
the worktree and a temporary folder are written; both are removed afterwards.

>>> result = yard.reproduce("models:/churn/3")     # doctest: +SKIP
>>> result.status, result.details                  # doctest: +SKIP
('reproduced', "reproduced: 2 metrics match within rel 1e-06 / abs 1e-09 (new run 9c1e...)")
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidArgument, InvalidState, ModelyardError, NotFound
from modelyard.registry.entities import ModelVersion
from modelyard.registry.versions import (
    MANIFEST_NAME,
    actor,
    client_or_default,
    registry_store,
    remote_registry,
    resolve_model_version,
)

if TYPE_CHECKING:
    from modelyard.tracking.client import TrackingClient
    from modelyard.tracking.entities import Run

__all__ = [
    "REPRODUCE_TAG",
    "DataCheck",
    "MetricCheck",
    "ReproduceResult",
    "reproduce",
]

#: Tag set on the rerun's runs (through the ``run_tags`` setting) so they can be found.
REPRODUCE_TAG = "modelyard.reproduce_id"
REPRODUCED, DIFFERS, COULD_NOT_RUN = "reproduced", "differs", "could_not_run"
_GIT_TIMEOUT = 120.0
_NOT_RERUNNABLE = ("<notebook>", "<interactive>", "-c")


@dataclass(frozen=True)
class DataCheck:
    """An input dataset of the original run: ``status`` is ok, missing, changed or
    not_checkable (it was a DataFrame or array, not a file or folder)."""

    name: str
    context: str
    digest: str
    source: str | None
    status: str
    found_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MetricCheck:
    """A metric of the original run and of the rerun; ``within`` the tolerance or not."""

    key: str
    original: float | None
    new: float | None
    delta: float | None
    within: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReproduceResult:
    """The verdict of :func:`reproduce`, as recorded on the model version."""

    status: str
    details: str
    name: str
    version: int
    run_id: str
    new_run_id: str | None
    checked_at: int
    tolerance: float
    abs_tolerance: float
    command: tuple[str, ...] = ()
    metrics: tuple[MetricCheck, ...] = ()
    datasets: tuple[DataCheck, ...] = ()
    warnings: tuple[str, ...] = ()
    model_digest_same: bool | None = None
    log_tail: str | None = None

    @property
    def ok(self) -> bool:
        """True when the version was reproduced."""
        return self.status == REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["command"] = list(self.command)
        out["metrics"] = [m.to_dict() for m in self.metrics]
        out["datasets"] = [d.to_dict() for d in self.datasets]
        out["warnings"] = list(self.warnings)
        return out


class _CouldNotRun(Exception):
    """Internal: stops an attempt with a reason (never escapes :func:`reproduce`)."""


class _Attempt:
    """What one reproduce attempt learned so far (filled in step by step)."""

    def __init__(self) -> None:
        self.datasets: list[DataCheck] = []
        self.warnings: list[str] = []
        self.command: list[str] = []
        self.new_run_id: str | None = None
        self.log_tail: str | None = None


def reproduce(
    uri: str | ModelVersion,
    *,
    tolerance: float = 1e-6,
    abs_tolerance: float = 1e-9,
    timeout: float = 3600.0,
    metrics: Sequence[str] | None = None,
    repo: str | os.PathLike[str] | None = None,
    record: bool = True,
    client: TrackingClient | None = None,
) -> ReproduceResult:
    """Rerun the recipe of a model version and compare its metrics (see the module docs).

    ``tolerance`` is relative, ``abs_tolerance`` absolute; ``metrics`` limits the comparison to
    some keys (default: every metric of the original run); ``repo`` is a clone to use instead
    of the recorded repository; ``timeout`` bounds the rerun in seconds. Unless
    ``record=False`` the verdict is stored on the version and appended to its history.

    >>> yard.reproduce("models:/churn/3", tolerance=1e-3).status   # doctest: +SKIP
    'reproduced'
    """
    for label, value in (("tolerance", tolerance), ("abs_tolerance", abs_tolerance)):
        if not isinstance(value, (int, float)) or not value >= 0:
            raise InvalidArgument(f"{label} must be a number >= 0, got {value!r}")
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidArgument(f"timeout must be a number of seconds > 0, got {timeout!r}")
    client = client_or_default(client)
    if remote_registry(client) is not None:
        raise InvalidState(
            "reproduce reruns the version's code on this machine and needs direct access to the "
            f"metadata and artifact stores; this client talks to the server at "
            f"{client.config.tracking_uri}",
            hint="run it where the stores are reachable: unset MODELYARD_TRACKING_URI and set "
            "MODELYARD_DATABASE_URL (and MODELYARD_ARTIFACT_URL) to the server's stores",
        )
    version = uri if isinstance(uri, ModelVersion) else resolve_model_version(uri, client=client)
    run = client.get_run(version.run_id)
    attempt = _Attempt()
    checks: tuple[MetricCheck, ...] = ()
    digest_same: bool | None = None
    try:
        checks, digest_same, status, details = _reproduce(
            client,
            version,
            run,
            attempt,
            (float(tolerance), float(abs_tolerance)),
            float(timeout),
            metrics,
            repo,
        )
    except _CouldNotRun as exc:
        status, details = COULD_NOT_RUN, f"could not run because {exc}"
    if attempt.warnings and status != COULD_NOT_RUN:
        details += f" (warnings: {'; '.join(attempt.warnings[:3])}"
        details += f" and {len(attempt.warnings) - 3} more)" if len(attempt.warnings) > 3 else ")"
    result = ReproduceResult(
        status=status,
        details=details,
        name=version.name,
        version=version.version,
        run_id=run.run_id,
        new_run_id=attempt.new_run_id,
        checked_at=time.time_ns() // 1_000_000,
        tolerance=float(tolerance),
        abs_tolerance=float(abs_tolerance),
        command=tuple(attempt.command),
        metrics=checks,
        datasets=tuple(attempt.datasets),
        warnings=tuple(attempt.warnings),
        model_digest_same=digest_same,
        log_tail=attempt.log_tail,
    )
    if record:
        registry_store(client).record_reproduce(
            version.name, version.version, result.to_dict(), actor=actor()
        )
        if attempt.new_run_id is not None:
            client.set_tags(attempt.new_run_id, {"modelyard.reproduce_verdict": status})
    return result


def _reproduce(
    client: TrackingClient,
    version: ModelVersion,
    run: Run,
    attempt: _Attempt,
    tolerances: tuple[float, float],
    timeout: float,
    keys: Sequence[str] | None,
    repo: str | os.PathLike[str] | None,
) -> tuple[tuple[MetricCheck, ...], bool | None, str, str]:
    code = run.code or {}
    entry_point = code.get("entry_point")
    if not code:
        raise _CouldNotRun(f"run {run.run_id} recorded no code (code capture was off)")
    if not entry_point or entry_point in _NOT_RERUNNABLE:
        raise _CouldNotRun(
            f"run {run.run_id} was started from {entry_point or 'an unknown program'}, which "
            "cannot be rerun; train from a script (python train.py) to make it reproducible"
        )
    commit = code.get("commit")
    if not commit:
        raise _CouldNotRun(f"run {run.run_id} recorded no git commit (it ran outside a repository)")
    if code.get("diff_truncated"):
        raise _CouldNotRun(
            f"the uncommitted diff of run {run.run_id} was longer than 10 MiB and was cut"
        )
    recorded_root = code.get("repo_root")
    root = Path(repo) if repo is not None else Path(recorded_root or "")
    shown = str(repo) if repo is not None else (recorded_root or "?")
    problems = []
    if (repo is None and not recorded_root) or not root.is_dir():
        problems.append(f"the repository at {shown} is not available")
    elif _git(root, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        problems.append(
            f"the repository at {root} is not available with commit {commit[:12]} "
            "(fetch it, or pass repo= a clone that has it)"
        )
    problems += _check_datasets(client, run, attempt)
    _check_environment(run, attempt)
    if problems:
        raise _CouldNotRun("; ".join(problems))
    with tempfile.TemporaryDirectory(prefix="modelyard-reproduce-") as tmp:
        worktree = Path(tmp) / "worktree"
        added = _git(root, "worktree", "add", "--detach", "--force", str(worktree), commit)
        if added.returncode != 0:
            raise _CouldNotRun(
                f"git could not check out commit {commit[:12]} of {root}: {_last_line(added)}"
            )
        try:
            _apply_diff(client, run, code, worktree, Path(tmp))
            _copy_untracked(code, root, worktree, attempt)
            _link_datasets(run, recorded_root, worktree)
            command = _command(entry_point, code.get("argv") or [], worktree)
            attempt.command = command
            token = uuid.uuid4().hex
            _rerun(client, run, command, worktree, token, timeout, attempt, Path(tmp))
        finally:
            _git(root, "worktree", "remove", "--force", str(worktree))
            _git(root, "worktree", "prune")
    new_run = _find_rerun(client, token, version)
    attempt.new_run_id = new_run.run_id
    return _verdict(client, version, run, new_run, *tolerances, keys)


# -- steps ------------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "--no-pager", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return subprocess.CompletedProcess(args, 127, b"", str(exc).encode())


def _last_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _check_datasets(client: TrackingClient, run: Run, attempt: _Attempt) -> list[str]:
    """Re-digest the file and folder inputs; returns what is missing or changed."""
    from modelyard.data import StatCache, digest_path

    cache = StatCache(client.config.home / "stat-cache.db")
    for ds in run.inputs:
        if ds.direction != "input":
            continue
        if ds.source is None:
            attempt.datasets.append(
                DataCheck(ds.name, ds.context, ds.digest, None, "not_checkable")
            )
            continue
        try:
            found = digest_path(ds.source, stat_cache=cache)[0]
        except ModelyardError:  # NotFound, or unreadable
            check = DataCheck(ds.name, ds.context, ds.digest, ds.source, "missing")
        else:
            status = "ok" if found == ds.digest else "changed"
            check = DataCheck(ds.name, ds.context, ds.digest, ds.source, status, found)
        attempt.datasets.append(check)
    described = []
    for c in attempt.datasets:
        if c.status in ("missing", "changed"):
            label = f"dataset {c.name!r}" + (f" ({c.context})" if c.context else "")
            if c.status == "missing":
                described.append(f"{label} is missing at {c.source}")
            else:
                described.append(
                    f"{label} at {c.source} changed (recorded digest {c.digest[:12]}, now "
                    f"{(c.found_digest or '')[:12]})"
                )
    unchecked = [c.name for c in attempt.datasets if c.status == "not_checkable"]
    if unchecked:
        attempt.warnings.append(
            "not checkable (logged from memory, not from a file): " + ", ".join(unchecked)
        )
    return described


def _check_environment(run: Run, attempt: _Attempt) -> None:
    from modelyard.tracking.environment import (
        EnvironmentInfo,
        capture_environment,
        diff_environments,
    )

    if not run.environment:
        attempt.warnings.append("the original run recorded no environment")
        return
    d = diff_environments(EnvironmentInfo.from_dict(run.environment), capture_environment())
    if d["same"]:
        return
    if d["python"]:
        attempt.warnings.append(f"Python {d['python'][0]} → {d['python'][1]}")
    for name, (old, new) in d["changed"].items():
        attempt.warnings.append(f"{name} {old} → {new}")
    for name, ver in d["added"].items():
        attempt.warnings.append(f"{name} {ver} installed now, not then")
    for name, ver in d["removed"].items():
        attempt.warnings.append(f"{name} {ver} was installed then, not now")
    if d["platform"] and len(attempt.warnings) < 3:
        attempt.warnings.append(f"platform {d['platform'][0]} → {d['platform'][1]}")


def _apply_diff(
    client: TrackingClient, run: Run, code: dict[str, Any], worktree: Path, tmp: Path
) -> None:
    if not code.get("dirty"):
        return
    from modelyard.tracking.client import CODE_DIFF_ARTIFACT

    artifact = code.get("diff_artifact") or CODE_DIFF_ARTIFACT
    try:
        diff = client.read_artifact(run.run_id, artifact)
    except NotFound:
        raise _CouldNotRun(
            f"run {run.run_id} was dirty but its diff artifact {artifact!r} is missing"
        ) from None
    if not diff:
        return
    from modelyard._digest import digest_bytes

    expected = code.get("diff_digest")
    if expected and digest_bytes(diff) != expected:
        raise _CouldNotRun(f"the diff artifact of run {run.run_id} does not match its digest")
    patch = tmp / "code.diff"
    patch.write_bytes(diff)
    applied = _git(worktree, "apply", "--binary", "--whitespace=nowarn", str(patch))
    if applied.returncode != 0:
        raise _CouldNotRun(
            f"the recorded diff does not apply to commit {str(code.get('commit'))[:12]}: "
            f"{_last_line(applied)}"
        )


def _copy_untracked(code: dict[str, Any], root: Path, worktree: Path, attempt: _Attempt) -> None:
    from modelyard._digest import digest_file

    for rel, digest in sorted((code.get("untracked") or {}).items()):
        source = root / rel
        try:
            same = source.is_file() and digest_file(source)[0] == digest
        except OSError:
            same = False
        if not same:
            if rel == code.get("entry_point"):
                raise _CouldNotRun(
                    f"the entry point {rel!r} was not committed and is no longer in {root} "
                    "with its recorded content"
                )
            attempt.warnings.append(f"untracked file {rel!r} is not available as recorded")
            continue
        target = worktree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _link_datasets(run: Run, recorded_root: str | None, worktree: Path) -> None:
    """Inputs read from inside the repository but not committed: link them into the worktree."""
    if not recorded_root:
        return
    root = Path(recorded_root)
    for ds in run.inputs:
        if ds.direction != "input" or ds.source is None:
            continue
        source = Path(ds.source)
        try:
            rel = source.relative_to(root)
        except ValueError:
            continue
        target = worktree / rel
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source, target_is_directory=source.is_dir())


def _command(entry_point: str, argv: Sequence[str], worktree: Path) -> list[str]:
    if entry_point.startswith("-m "):
        return [sys.executable, "-m", entry_point[3:].strip(), *argv]
    if os.path.isabs(entry_point):
        raise _CouldNotRun(
            f"the entry point {entry_point} is outside the repository, so the recorded commit "
            "does not hold it"
        )
    if not (worktree / entry_point).is_file():
        raise _CouldNotRun(f"the entry point {entry_point!r} is not in the recorded commit")
    return [sys.executable, entry_point, *argv]


def _python_path() -> str | None:
    """PYTHONPATH with relative entries made absolute (the rerun runs in another folder)."""
    value = os.environ.get("PYTHONPATH")
    if not value:
        return None
    return os.pathsep.join(os.path.abspath(p) if p else p for p in value.split(os.pathsep))


def _rerun(
    client: TrackingClient,
    run: Run,
    command: list[str],
    worktree: Path,
    token: str,
    timeout: float,
    attempt: _Attempt,
    tmp: Path,
) -> None:
    config = client.config
    store = registry_store(client)
    experiment = store.experiment_name(run.experiment_id) or config.experiment_name
    env = dict(os.environ)
    env.update(
        MODELYARD_DATABASE_URL=config.database_url,
        MODELYARD_ARTIFACT_URL=config.artifact_url,
        MODELYARD_EXPERIMENT_NAME=experiment,
        MODELYARD_RUN_TAGS=json.dumps({REPRODUCE_TAG: token, "modelyard.reproduce_of": run.run_id}),
    )
    for name in ("tracking_uri", "token"):
        if getattr(config, name, ""):
            env[f"MODELYARD_{name.upper()}"] = str(getattr(config, name))
    env.pop("MODELYARD_PROJECT_ROOT", None)
    python_path = _python_path()
    if python_path:
        env["PYTHONPATH"] = python_path
    out_path, err_path = tmp / "stdout.txt", tmp / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            command,
            cwd=worktree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            attempt.log_tail = _tail(err_path)
            raise _CouldNotRun(
                f"the rerun of {_shown(command)} did not finish within {timeout:g} s"
            ) from None
    attempt.log_tail = _tail(err_path) or _tail(out_path)
    if returncode != 0:
        found = store.find_runs_by_tag(REPRODUCE_TAG, token)
        attempt.new_run_id = found[0] if found else None
        last = (attempt.log_tail or "").strip().splitlines()
        raise _CouldNotRun(
            f"the rerun of {_shown(command)} exited with status {returncode}"
            + (f": {last[-1]}" if last else "")
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, limit: int = 4000) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data[-limit:].decode("utf-8", "replace") or None


def _shown(command: Sequence[str]) -> str:
    return "python " + " ".join(command[1:])


def _find_rerun(client: TrackingClient, token: str, version: ModelVersion) -> Run:
    ids = registry_store(client).find_runs_by_tag(REPRODUCE_TAG, token)
    if not ids:
        raise _CouldNotRun(
            "the rerun finished but started no tracked run (does the script call yard.start_run()?)"
        )
    runs = [client.get_run(run_id) for run_id in ids]
    manifest = f"{version.artifact_path}/{MANIFEST_NAME}"
    with_model = [r for r in runs if client.list_artifacts(r.run_id, manifest)]
    if with_model:
        return with_model[0]
    top = [r for r in runs if r.parent_run_id not in ids]
    return (top or runs)[0]


def _close(a: float, b: float, rel: float, abs_: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def _verdict(
    client: TrackingClient,
    version: ModelVersion,
    run: Run,
    new_run: Run,
    tolerance: float,
    abs_tolerance: float,
    keys: Sequence[str] | None,
) -> tuple[tuple[MetricCheck, ...], bool | None, str, str]:
    wanted = list(keys) if keys else sorted(run.metrics)
    checks = []
    for key in wanted:
        a, b = run.metrics.get(key), new_run.metrics.get(key)
        if a is None or b is None:
            checks.append(MetricCheck(key, a, b, None, a is None and b is None))
            continue
        delta = b - a if math.isfinite(a) and math.isfinite(b) else None
        checks.append(MetricCheck(key, a, b, delta, _close(a, b, tolerance, abs_tolerance)))
    digest_same = _model_digest_same(client, version, new_run)
    short = new_run.run_id[:12]
    tol = f"rel {tolerance:g} / abs {abs_tolerance:g}"
    model_note = {
        True: "; the model files are identical",
        False: "; the model files are not byte-identical (model digest differs)",
        None: "",
    }[digest_same]
    if not checks:
        if digest_same is None:
            raise _CouldNotRun(
                f"there is nothing to compare: run {run.run_id} recorded no metrics and the "
                f"rerun (run {short}) logged no model at {version.artifact_path!r}"
            )
        status = REPRODUCED if digest_same else DIFFERS
        return (), digest_same, status, f"{status}: no metrics were recorded{model_note}"
    bad = [c for c in checks if not c.within]
    if not bad:
        details = f"reproduced: {len(checks)} metric(s) match within {tol} (new run {short})"
        return tuple(checks), digest_same, REPRODUCED, details + model_note
    parts = []
    for c in bad:
        if c.new is None:
            parts.append(f"metric {c.key!r} was not logged by the rerun")
        elif c.original is None:
            parts.append(f"metric {c.key!r} was not logged by the original run")
        elif c.delta is None:
            parts.append(f"metric {c.key!r} {c.original:.6g} → {c.new:.6g}")
        else:
            rel = c.delta / abs(c.original) if c.original else math.inf
            parts.append(
                f"metric {c.key!r} {c.original:.6g} → {c.new:.6g} "
                f"(Δ {c.delta:+.3g}, rel {rel:+.2e})"
            )
    details = f"differs beyond {tol} (new run {short}): " + "; ".join(parts)
    return tuple(checks), digest_same, DIFFERS, details + model_note


def _model_digest_same(client: TrackingClient, version: ModelVersion, new_run: Run) -> bool | None:
    if not version.model_digest:
        return None
    try:
        data = client.read_artifact(new_run.run_id, f"{version.artifact_path}/{MANIFEST_NAME}")
        digest = json.loads(data).get("model_digest")
    except (ModelyardError, ValueError, AttributeError):
        return None
    return None if not isinstance(digest, str) else digest == version.model_digest
