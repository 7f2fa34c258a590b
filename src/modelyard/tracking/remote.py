"""Remote mode: the tracking and artifact stores as HTTP clients of ``modelyard server``.

When ``MODELYARD_TRACKING_URI`` (``settings.tracking_uri``) names a server, the
:class:`~modelyard.tracking.client.TrackingClient` uses :class:`RemoteTrackingStore` and
:class:`RemoteArtifactStore` in place of the SQL and fsspec stores. They have the same methods,
return the same dataclasses and raise the same error classes (the server's error body names
the class, :func:`~modelyard.errors.error_class` finds it), so code cannot tell the modes apart.

The HTTP plumbing — one :class:`~modelyard.tracking.remote_session.RemoteSession` per store
with a token, keep-alive connections, retries with backoff and error mapping — lives in
:mod:`modelyard.tracking.remote_session`; the artifact store in
:mod:`modelyard.tracking.remote_artifacts`. Every write is idempotent on the server, so a
retry after a lost answer is harmless: runs are created under the client's run id, metric
batches carry a ``batch_id`` (kept when the same points are sent again, even after the retry
budget ran out and the buffer queued them anew), params accept the same value again, tags and
artifact records are upserts, and ``end_run`` sends its end time.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelyard.errors import InvalidArgument, NotFound, UserError
from modelyard.tracking.entities import (
    FINISHED,
    RUN_STATUSES,
    RUNNING,
    Artifact,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunList,
)
from modelyard.tracking.remote_artifacts import RemoteArtifactStore
from modelyard.tracking.remote_session import RemoteSession, decode_float, encode_float

if TYPE_CHECKING:
    from modelyard.data import DatasetInfo
    from modelyard.settings import Settings
    from modelyard.tracking.environment import EnvironmentInfo

__all__ = ["RemoteArtifactStore", "RemoteSession", "RemoteTrackingStore"]

Point = tuple[str, str, float, int, int]
_MAX_BATCH = 50_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fields(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _q(value: str) -> str:
    return quote(value, safe="")


def _experiment(data: Mapping[str, Any]) -> Experiment:
    return Experiment(**_fields(Experiment, data))


def _run(data: Mapping[str, Any]) -> Run:
    values = _fields(Run, data)
    values["metrics"] = {k: decode_float(v) for k, v in (data.get("metrics") or {}).items()}
    values["inputs"] = tuple(
        DatasetInput(**_fields(DatasetInput, item)) for item in data.get("inputs") or ()
    )
    return Run(**values)


class RemoteTrackingStore:
    """The tracking store of a Modelyard server, with the methods of ``SqlTrackingStore``."""

    def __init__(
        self,
        settings: Settings,
        *,
        retry_budget: float = 60.0,
        first_contact_budget: float = 2.0,
    ) -> None:
        self.settings = settings
        self.session = RemoteSession(
            settings.tracking_uri,
            settings.token,
            retry_budget=retry_budget,
            first_contact_budget=first_contact_budget,
        )
        self.db = self.session  # TrackingClient.close() calls store.db.dispose()
        self._unsent: tuple[list[Point], str] | None = None
        self._batch_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteTrackingStore({self.session.url!r})"

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str | None = None) -> Experiment:
        response, attempts = self.session.send(
            "POST", "/api/experiments", body={"name": name, "description": description}
        )
        if response.status_code == 409 and attempts > 1:
            found = self.get_experiment_by_name(name)  # our first attempt made it
            if found is not None:
                return found
        self.session.raise_for(response)
        return _experiment(response.json())

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self.session.call("GET", "/api/experiments/by-name", params={"name": name})
        except NotFound:
            return None
        return _experiment(data)

    def get_experiment(self, experiment_id: int) -> Experiment:
        return _experiment(self.session.call("GET", f"/api/experiments/{int(experiment_id)}"))

    def list_experiments(self) -> list[tuple[Experiment, int, int | None]]:
        data = self.session.call("GET", "/api/experiments")
        return [
            (_experiment(item), int(item["run_count"]), item.get("last_run_start"))
            for item in data["experiments"]
        ]

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        experiment_id: int,
        name: str,
        start_time: int,
        parent_run_id: str | None = None,
        user: str = "",
        host: str = "",
        pid: int | None = None,
        entry_point: str | None = None,
        code: dict[str, Any] | None = None,
        environment: EnvironmentInfo | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.session.call(
            "POST",
            "/api/runs",
            body={
                "run_id": run_id,
                "experiment_id": experiment_id,
                "name": name,
                "start_time": start_time,
                "parent_run_id": parent_run_id,
                "user": user[:256],
                "host": host[:256],
                "pid": pid,
                "entry_point": entry_point,
                "code": code,
                "environment": environment.to_dict() if environment is not None else None,
                "tags": tags or {},
            },
        )

    def end_run(
        self,
        run_id: str,
        status: str = FINISHED,
        end_time: int | None = None,
        error: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES or status == RUNNING:
            raise InvalidArgument(
                f"cannot end run {run_id} with status {status!r}",
                hint="use FINISHED, FAILED or KILLED",
            )
        body = {"status": status, "end_time": end_time or _now_ms(), "error": error}
        self.session.call("POST", f"/api/runs/{_q(run_id)}/end", body=body)

    def update_code(self, run_id: str, code: dict[str, Any]) -> None:
        self.session.call("PUT", f"/api/runs/{_q(run_id)}/code", body={"code": code})

    def heartbeat(self, run_ids: Sequence[str], ts: int | None = None) -> None:
        if run_ids:
            body = {"run_ids": list(run_ids), "ts": ts or _now_ms()}
            self.session.call("POST", "/api/runs/heartbeat", body=body)

    def mark_dead_runs(self, host: str, is_alive: Callable[[int], bool]) -> list[str]:
        """End RUNNING runs of ``host`` whose process is gone as KILLED; return their ids.

        The server lists the pids; whether they live is checked here, on the runs' host.
        """
        pids = self.session.call("GET", "/api/runs/running-pids", params={"host": host})["pids"]
        dead = [pid for pid in pids if not is_alive(pid)]
        if not dead:
            return []
        body = {"host": host, "pids": dead}
        return list(self.session.call("POST", "/api/runs/mark-dead", body=body)["run_ids"])

    # -- params and tags --------------------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        if params:
            self.session.call("POST", f"/api/runs/{_q(run_id)}/params", body={"params": params})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if tags:
            self.session.call("POST", f"/api/runs/{_q(run_id)}/tags", body={"tags": tags})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.session.call("DELETE", f"/api/runs/{_q(run_id)}/tags", params={"key": key})

    # -- metrics ----------------------------------------------------------------------------

    def log_metrics(self, points: Sequence[Point], batch_id: str | None = None) -> int:
        """Send metric points; returns how many the server wrote (0 for a repeated batch).

        Without ``batch_id`` each batch gets a fresh one. When a send fails without an answer,
        the batch and its id are kept: if the same points come again at the head of the next
        call (the metric buffer re-queues them in order), they go first under their old id, so
        a batch the server did write before the connection broke is not written twice.
        """
        if not points:
            return 0
        with self._batch_lock:
            pending = list(points)
            written = 0
            if batch_id is None and self._unsent is not None:
                unsent, old_id = self._unsent
                if pending[: len(unsent)] == unsent:
                    written += self._send(unsent, old_id)
                    pending = pending[len(unsent) :]
                self._unsent = None
            for start in range(0, len(pending), _MAX_BATCH):
                chunk = pending[start : start + _MAX_BATCH]
                chunk_id = batch_id or uuid.uuid4().hex
                if batch_id is not None and len(pending) > _MAX_BATCH:
                    chunk_id = f"{batch_id[:48]}-{start // _MAX_BATCH}"
                try:
                    written += self._send(chunk, chunk_id)
                except UserError:
                    raise  # refused: nothing was written, nothing to remember
                except BaseException:
                    if batch_id is None:  # the server may have written it: keep its id
                        self._unsent = (chunk, chunk_id)
                    raise
            return written

    def _send(self, points: Sequence[Point], batch_id: str) -> int:
        body = {
            "batch_id": batch_id,
            "points": [
                {
                    "run_id": run_id,
                    "key": key,
                    "value": value if math.isfinite(value) else encode_float(value),
                    "timestamp": ts,
                    "step": step,
                }
                for run_id, key, value, ts, step in points
            ],
        }
        return int(self.session.call("POST", "/api/metrics", body=body)["written"])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self.session.call("GET", f"/api/runs/{_q(run_id)}/metrics", params={"key": key})
        return [
            Metric(
                key=key, step=m["step"], timestamp=m["timestamp"], value=decode_float(m["value"])
            )
            for m in data["metrics"]
        ]

    # -- datasets and artifacts -------------------------------------------------------------

    def log_dataset(
        self,
        run_id: str,
        info: DatasetInfo,
        *,
        name: str,
        context: str = "",
        direction: str = "input",
    ) -> None:
        body = {"name": name, "context": context, "direction": direction, "info": info.to_dict()}
        self.session.call("POST", f"/api/runs/{_q(run_id)}/datasets", body=body)

    def log_artifact(self, run_id: str, path: str, digest: str, size: int) -> None:
        body = {"path": path, "digest": digest, "size": size}
        self.session.call("POST", f"/api/runs/{_q(run_id)}/artifacts", body=body)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        params = {"prefix": prefix} if prefix else None
        data = self.session.call("GET", f"/api/runs/{_q(run_id)}/artifacts", params=params)
        return [Artifact(**_fields(Artifact, a)) for a in data["artifacts"]]

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        data = self.session.call("GET", f"/api/runs/{_q(run_id)}/artifacts", params={"path": path})
        return Artifact(**_fields(Artifact, data["artifacts"][0]))

    # -- reading runs -----------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not run_id:
            raise InvalidArgument(f"run id must be a non-empty string, got {run_id!r}")
        return _run(self.session.call("GET", f"/api/runs/{_q(run_id)}"))

    def find_runs(self, prefix: str) -> list[str]:
        if not prefix or len(prefix) > 32:
            return []
        data = self.session.call("GET", "/api/runs/find", params={"prefix": prefix})
        return list(data["run_ids"])

    def search_runs(
        self,
        experiment_ids: Sequence[int],
        filter: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunList:
        body = {
            "experiment_ids": list(experiment_ids),
            "filter": filter,
            "order_by": list(order_by),
            "max_results": max_results,
            "page_token": page_token,
        }
        data = self.session.call("POST", "/api/runs/search", body=body)
        return RunList([_run(r) for r in data["runs"]], next_page_token=data["next_page_token"])

    def delete_run(self, run_id: str) -> None:
        self.session.call("DELETE", f"/api/runs/{_q(run_id)}")
