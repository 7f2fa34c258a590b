"""The tracking client: every tracking verb with explicit run ids.

:class:`TrackingClient` ties together the metadata store, the artifact store and the metric
buffer. The module-level SDK (``yard.start_run``, ``yard.log_metric``, ...) is a thin layer
over one client that remembers the active run; scripts that juggle several runs can use a
client directly::

    client = TrackingClient(Settings.load())
    run_id = client.create_run("churn", name="baseline")
    client.log_metric(run_id, "loss", 0.3, step=1)
    client.end_run(run_id)

Reads (``get_run``, ``search_runs``, ``get_metric_history``) flush buffered points first, so a
process always sees what it logged.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from modelyard.errors import AlreadyExists, ConfigError, InvalidArgument, NotFound
from modelyard.settings import Settings
from modelyard.tracking import validation as v
from modelyard.tracking.entities import FINISHED, Artifact, Experiment, Metric, Run, RunList

if TYPE_CHECKING:
    from modelyard.artifacts import ArtifactStore
    from modelyard.tracking.buffer import MetricBuffer
    from modelyard.tracking.sqlstore import SqlTrackingStore

__all__ = ["CODE_DIFF_ARTIFACT", "TrackingClient", "run_name"]

CODE_DIFF_ARTIFACT = "_modelyard/code.diff"
_HOST = socket.gethostname()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return ""


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


class TrackingClient:
    """Tracking with explicit run ids, on the stores named by ``settings``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._store: SqlTrackingStore | None = None
        self._artifacts: ArtifactStore | None = None
        self._buffer: MetricBuffer | None = None
        self._open_runs: set[str] = set()
        self._lock = threading.RLock()  # store and buffer are built under it, one inside the other

    # -- wiring -----------------------------------------------------------------------------

    @property
    def config(self) -> Settings:
        if self.settings is None:
            self.settings = Settings.load()
        return self.settings

    @property
    def store(self) -> SqlTrackingStore:
        if self._store is None:
            with self._lock:
                if self._store is None and self.config.tracking_uri:
                    from modelyard.tracking.remote import RemoteTrackingStore

                    # Same methods, same results, same errors: over HTTP to modelyard server.
                    self._store = cast("SqlTrackingStore", RemoteTrackingStore(self.config))
                elif self._store is None:
                    from modelyard.store.database import Database
                    from modelyard.tracking.sqlstore import SqlTrackingStore

                    db = Database.open(
                        self.config.database_url, busy_timeout=self.config.busy_timeout
                    )
                    self._store = SqlTrackingStore(db)
        return self._store

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None and self.config.tracking_uri:
            from modelyard.tracking.remote import RemoteArtifactStore

            self._artifacts = cast("ArtifactStore", RemoteArtifactStore(self.config))
        elif self._artifacts is None:
            from modelyard.artifacts import open_artifact_store

            self._artifacts = open_artifact_store(self.config.artifact_url)
        return self._artifacts

    @property
    def buffer(self) -> MetricBuffer:
        if self._buffer is None:
            with self._lock:
                if self._buffer is None:
                    from modelyard.tracking.buffer import MetricBuffer

                    self._buffer = MetricBuffer(
                        self.store.log_metrics,
                        flush_interval=self.config.flush_interval,
                        flush_size=self.config.flush_size,
                        heartbeat=self._heartbeat,
                        heartbeat_interval=self.config.heartbeat_interval,
                    )
        return self._buffer

    def _heartbeat(self) -> None:
        if self._open_runs:
            self.store.heartbeat(sorted(self._open_runs))

    def close(self) -> None:
        """Flush buffered points and release connections."""
        if self._buffer is not None:
            self._buffer.close()
            self._buffer.flush()
        if self._store is not None:
            self._store.db.dispose()

    def flush(self) -> int:
        """Write every buffered metric point now; returns how many were written."""
        if self._buffer is None:
            return 0
        return self._buffer.flush()

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str | None = None) -> Experiment:
        return self.store.create_experiment(v.validate_name(name, "experiment"), description)

    def get_experiment(self, name_or_id: str | int) -> Experiment:
        """An experiment by name (or by numeric id)."""
        if isinstance(name_or_id, int):
            return self.store.get_experiment(name_or_id)
        found = self.store.get_experiment_by_name(name_or_id)
        if found is None:
            names = [e.name for e, _, _ in self.store.list_experiments()]
            raise NotFound(
                f"experiment {name_or_id!r} does not exist"
                + (f" (there are: {', '.join(names[:10])})" if names else ""),
                hint="create it with set_experiment(name), or list them with: "
                "modelyard experiments list",
            )
        return found

    def get_or_create_experiment(self, name: str) -> Experiment:
        found = self.store.get_experiment_by_name(name)
        if found is not None:
            return found
        try:
            return self.create_experiment(name)
        except AlreadyExists:  # another process created it meanwhile
            return self.get_experiment(name)

    def list_experiments(self) -> list[tuple[Experiment, int, int | None]]:
        """Every experiment with its run count and latest run start time."""
        return self.store.list_experiments()

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str | int | None = None,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a run in ``experiment`` (name or id; created if a new name); returns its id."""
        if experiment is None:
            experiment = self.config.experiment_name
        exp = (
            self.store.get_experiment(experiment)
            if isinstance(experiment, int)
            else self.get_or_create_experiment(v.validate_name(experiment, "experiment"))
        )
        run_id = uuid.uuid4().hex
        name = v.validate_name(name, "run") if name is not None else run_name(run_id)
        all_tags = {**_setting_tags(self.config.run_tags), **(tags or {})}
        clean_tags = {v.validate_key(k, "tag"): v.tag_value(k, val) for k, val in all_tags.items()}
        code, diff = self._capture_code()
        environment = None
        if self.config.capture_environment:
            from modelyard.tracking.environment import capture_environment

            environment = capture_environment()
        entry_point = code.get("entry_point") if code else None
        self.store.create_run(
            run_id=run_id,
            experiment_id=exp.experiment_id,
            name=name,
            start_time=_now_ms(),
            parent_run_id=parent_run_id,
            user=_user(),
            host=_HOST,
            pid=os.getpid(),
            entry_point=entry_point,
            code=code,
            environment=environment,
            tags=clean_tags,
        )
        self._open_runs.add(run_id)
        self.buffer.start()  # heartbeats begin now, even if the run never logs a metric
        if diff:
            blob = self.artifacts.put_bytes(diff)
            self.store.log_artifact(run_id, CODE_DIFF_ARTIFACT, blob.digest, blob.size)
        return run_id

    def _capture_code(self) -> tuple[dict[str, Any] | None, bytes | None]:
        if not self.config.capture_code:
            return None, None
        from modelyard.tracking.code import capture_code

        info = capture_code()
        code = info.to_dict()
        diff = info.diff_bytes()
        if diff:
            code["diff_artifact"] = CODE_DIFF_ARTIFACT
        return code, diff

    def end_run(self, run_id: str, status: str = FINISHED, error: str | None = None) -> None:
        """Flush the run's points and record how it ended (FINISHED, FAILED or KILLED)."""
        try:
            self.flush()
        finally:
            self.store.end_run(run_id, status, error=error)
            self._open_runs.discard(run_id)

    def get_run(self, run_id: str) -> Run:
        """A run with params, latest metrics, tags, inputs, code and environment."""
        self.flush()
        try:
            return self.store.get_run(run_id)
        except NotFound:
            matches = self.store.find_runs(run_id) if len(run_id) >= 4 else []
            if len(matches) == 1:
                return self.store.get_run(matches[0])
            raise

    def search_runs(
        self,
        experiments: str | int | Sequence[str | int] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunList:
        """Runs of the given experiments (names or ids) matching ``filter``, ordered."""
        self.flush()
        if experiments is None:
            experiments = [self.config.experiment_name]
        if isinstance(experiments, (str, int)):
            experiments = [experiments]
        ids = [self.get_experiment(e).experiment_id for e in experiments]
        if isinstance(order_by, str):
            order_by = [order_by]
        return self.store.search_runs(ids, filter, list(order_by), max_results, page_token)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of metric ``key`` of a run, by step then time."""
        self.flush()
        return self.store.get_metric_history(run_id, key)

    def mark_dead_runs(self) -> list[str]:
        """End this host's RUNNING runs whose process is gone as KILLED; return their ids."""
        return self.store.mark_dead_runs(_HOST, _pid_alive)

    # -- logging ----------------------------------------------------------------------------

    def log_metric(
        self, run_id: str, key: str, value: Any, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Queue one metric point (written in the background; see :meth:`flush`)."""
        key = v.validate_key(key, "metric")
        value = v.metric_value(key, value)
        if step.__class__ is not int:
            step = v.metric_step(key, step)
        self.buffer.add((run_id, key, value, timestamp or _now_ms(), step))

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, Any],
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Queue several metrics at one step."""
        ts = timestamp or _now_ms()
        step = v.metric_step("metrics", step)
        points = []
        for key, value in metrics.items():
            key = v.validate_key(key, "metric")
            points.append((run_id, key, v.metric_value(key, value), ts, step))
        self.buffer.extend(points)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params; logging a different value for an existing key is an error."""
        clean = {v.validate_key(k, "param"): v.param_value(k, val) for k, val in params.items()}
        self.store.log_params(run_id, clean)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags (a tag can be changed later)."""
        clean = {v.validate_key(k, "tag"): v.tag_value(k, val) for k, val in tags.items()}
        self.store.set_tags(run_id, clean)

    def log_dataset(
        self,
        run_id: str,
        data: object,
        *,
        name: str,
        context: str = "",
        direction: str = "input",
        profile: bool = True,
    ) -> Any:
        """Digest, describe and record a dataset the run read or wrote; returns DatasetInfo."""
        from modelyard.data import StatCache, describe_dataset

        name = v.validate_name(name, "dataset")
        if direction not in ("input", "output"):
            raise InvalidArgument(
                f"dataset direction must be 'input' or 'output', got {direction!r}"
            )
        cache = StatCache(self.config.home / "stat-cache.db")
        info = describe_dataset(data, stat_cache=cache, profile=profile)
        self.store.log_dataset(run_id, info, name=name, context=context, direction=direction)
        return info

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> Artifact:
        """Store a file; its run path is ``artifact_path/<file name>`` (or the file name)."""
        from modelyard.artifacts import validate_artifact_path

        path = Path(local_path)
        if not path.is_file():
            raise InvalidArgument(
                f"cannot log artifact {str(local_path)!r}: "
                + ("it is a folder" if path.is_dir() else "no such file"),
                hint="use log_artifacts(folder) for a folder" if path.is_dir() else None,
            )
        target = f"{artifact_path.rstrip('/')}/{path.name}" if artifact_path else path.name
        target = validate_artifact_path(target)
        blob = self.artifacts.put_file(path)
        self.store.log_artifact(run_id, target, blob.digest, blob.size)
        return Artifact(path=target, digest=blob.digest, size=blob.size)

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> list[Artifact]:
        """Store every file under a folder, keeping the relative layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidArgument(
                f"cannot log artifacts from {str(local_dir)!r}: not a folder",
                hint="use log_artifact(path) for a single file",
            )
        out = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = file.relative_to(root).parent.as_posix()
            parts = [p for p in (artifact_path, rel if rel != "." else None) if p]
            out.append(self.log_artifact(run_id, file, "/".join(parts) or None))
        return out

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        """Store bytes under ``artifact_path``."""
        from modelyard.artifacts import validate_artifact_path

        target = validate_artifact_path(artifact_path)
        blob = self.artifacts.put_bytes(data)
        self.store.log_artifact(run_id, target, blob.digest, blob.size)
        return Artifact(path=target, digest=blob.digest, size=blob.size)

    def log_text(self, run_id: str, text: str, artifact_path: str) -> Artifact:
        """Store a text as a UTF-8 file artifact."""
        return self.log_bytes(run_id, text.encode("utf-8"), artifact_path)

    def log_dict(self, run_id: str, data: Mapping[str, Any], artifact_path: str) -> Artifact:
        """Store a dictionary as JSON (NaN written as null is avoided: it must be JSON-able)."""
        try:
            text = json.dumps(data, indent=2, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"cannot store {artifact_path!r} as JSON: {exc}",
                hint="pass plain dicts, lists, strings and numbers",
            ) from exc
        return self.log_bytes(run_id, text.encode("utf-8"), artifact_path)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        return self.store.list_artifacts(run_id, prefix)

    def read_artifact(self, run_id: str, artifact_path: str) -> bytes:
        """The verified bytes of an artifact."""
        artifact = self.store.get_artifact(run_id, artifact_path)
        return self.artifacts.get_bytes(artifact.digest)

    def download_artifact(
        self, run_id: str, artifact_path: str, dest: str | Path | None = None
    ) -> Path:
        """Copy an artifact (or every artifact under a folder path) to ``dest``; verified."""
        dest_root = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="modelyard-"))
        exact = [a for a in self.store.list_artifacts(run_id, artifact_path)]
        if not exact:
            raise NotFound(
                f"run {run_id} has no artifact {artifact_path!r}",
                hint=f"list its artifacts with: modelyard runs show {run_id}",
            )
        if len(exact) == 1 and exact[0].path == artifact_path:
            target = dest_root / Path(artifact_path).name if dest_root.is_dir() else dest_root
            return self.artifacts.get_file(exact[0].digest, target)
        base = artifact_path.rstrip("/")
        for artifact in exact:
            rel = artifact.path[len(base) + 1 :] if base else artifact.path
            self.artifacts.get_file(artifact.digest, dest_root / rel)
        return dest_root


def _setting_tags(text: str) -> dict[str, Any]:
    """The tags of the ``run_tags`` setting: a JSON object, or nothing when empty."""
    if not text.strip():
        return {}
    try:
        tags = json.loads(text)
    except ValueError:
        tags = None
    if not isinstance(tags, dict):
        raise ConfigError(
            f"setting run_tags (MODELYARD_RUN_TAGS) must be a JSON object, got {text[:80]!r}",
            hint='e.g. MODELYARD_RUN_TAGS=\'{"team": "risk"}\'',
        )
    return tags


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    if sys.platform.startswith("linux"):
        try:  # a zombie has exited: it only waits for its parent to reap it
            stat = Path(f"/proc/{pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    return True


_ADJECTIVES = (
    "amber bold brisk calm clever crisp dapper eager fancy gentle glad grand hardy jolly keen "
    "lively lucid mellow merry nimble noble plucky proud quick quiet rapid ready serene sharp "
    "shiny silent sleek smooth snappy spry steady sunny swift tidy vivid warm witty zesty"
).split()
_NOUNS = (
    "otter falcon heron lynx badger beaver bison crane dolphin eagle ferret finch gecko hare "
    "ibis jaguar kestrel koala lemur marten mole newt ocelot orca osprey panda puffin quail "
    "raven robin salmon seal sparrow stoat swan tapir tern trout walrus wombat wren yak"
).split()


def run_name(run_id: str) -> str:
    n = int(run_id[:8], 16)
    return f"{_ADJECTIVES[n % len(_ADJECTIVES)]}-{_NOUNS[(n // 97) % len(_NOUNS)]}-{n % 1000}"
