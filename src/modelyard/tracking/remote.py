"""Remote mode: the tracking and artifact stores as HTTP clients of ``modelyard server``.

When ``MODELYARD_TRACKING_URI`` (``settings.tracking_uri``) names a server, the
:class:`~modelyard.tracking.client.TrackingClient` uses :class:`RemoteTrackingStore` and
:class:`RemoteArtifactStore` in place of the SQL and fsspec stores. They have the same methods,
return the same dataclasses and raise the same error classes (the server's error body names
the class, :func:`~modelyard.errors.error_class` finds it), so code cannot tell the modes apart.

Every call goes through one :class:`RemoteSession`: a keep-alive ``httpx.Client`` (TCP_NODELAY,
thread-safe, one per store) that sends ``MODELYARD_TOKEN`` as a bearer token and retries
connection errors, timeouts and 502/503/504 with exponential backoff (0.1 s doubling to 5 s,
for up to 60 s; only 2 s while the server has never answered in this process, so a typo in the
URL fails fast). 4xx answers are never retried. Every write is idempotent on the server, so a
retry after a lost answer is harmless: runs are created under the client's run id, metric
batches carry a ``batch_id`` (kept when the same points are sent again, even after the retry
budget ran out and the buffer queued them anew), params accept the same value again, tags and
artifact records are upserts, and ``end_run`` sends its end time.

Blobs stream both ways: uploads send the file in 1 MiB chunks after a ``HEAD`` says the server
lacks it; downloads are verified against the digest as they arrive
(:class:`~modelyard.artifacts.reader.VerifiedReader`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote

from modelyard._digest import CHUNK_SIZE, DIGEST_RE, digest_bytes, digest_file, hasher
from modelyard.errors import (
    ConfigError,
    InvalidArgument,
    ModelyardError,
    NotFound,
    StoreError,
    UserError,
    error_class,
)
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

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

    from modelyard.artifacts import Blob
    from modelyard.data import DatasetInfo
    from modelyard.settings import Settings
    from modelyard.tracking.environment import EnvironmentInfo

__all__ = ["RemoteArtifactStore", "RemoteSession", "RemoteTrackingStore"]

log = logging.getLogger("modelyard.remote")

Point = tuple[str, str, float, int, int]

#: Base URLs that have answered at least once in this process (they get the long retry budget).
_answered: set[str] = set()
_RETRY_STATUSES = {502, 503, 504}
_START_HINT = "start it with: modelyard server (or check MODELYARD_TRACKING_URI)"
_MAX_BATCH = 50_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _encode_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _decode_float(value: Any) -> float:
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return float(value)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return _encode_float(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _dumps(obj: Any) -> bytes:
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(obj), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def _fields(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# -- the HTTP session ---------------------------------------------------------------------------


class RemoteSession:
    """HTTP calls to one server, with a token, keep-alive connections and retries.

    ``retry_budget`` bounds the seconds spent retrying one call; ``first_contact_budget``
    replaces it while the server has never answered in this process.
    """

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        retry_budget: float = 60.0,
        first_contact_budget: float = 2.0,
        timeout: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.retry_budget = retry_budget
        self.first_contact_budget = first_contact_budget
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._open()
        return self._client

    def _open(self) -> httpx.Client:
        import httpx

        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"tracking URI {self.url!r} is not an http:// or https:// URL",
                hint="set MODELYARD_TRACKING_URI to the server, e.g. http://127.0.0.1:5050",
            )
        headers = {"user-agent": "modelyard-sdk", "accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        # httpcore sets TCP_NODELAY on every connection it opens; connections are kept alive.
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=5.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=False,
            trust_env=False,
        )

    def dispose(self) -> None:
        """Close the connections (a later call opens new ones)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    close = dispose

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Callable[[], bytes | Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> tuple[httpx.Response, int]:
        """Send a request, retrying what may be transient; returns (response, attempts).

        ``body`` is sent as JSON; ``content`` is called once per attempt for the raw body.
        A response with status 502, 503 or 504 is retried; any other is returned as is.
        """
        import httpx

        client = self._http()
        extra = dict(headers or {})
        payload: bytes | None = None
        if body is not None:
            payload = _dumps(body)
            extra["content-type"] = "application/json"
        first = self.url not in _answered
        budget = self.first_contact_budget if first else self.retry_budget
        deadline = time.monotonic() + budget
        delay = 0.1
        attempts = 0
        while True:
            attempts += 1
            data = payload if payload is not None else (content() if content else None)
            try:
                request = client.build_request(
                    method, path, params=params, content=data, headers=extra
                )
                response = client.send(request, stream=stream)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure: BaseException | httpx.Response = exc
            else:
                _answered.add(self.url)
                if response.status_code not in _RETRY_STATUSES:
                    return response, attempts
                failure = response
            if time.monotonic() + delay > deadline:
                if isinstance(failure, BaseException):
                    raise self._unreachable(failure, first, budget) from failure
                return failure, attempts
            if isinstance(failure, httpx.Response):
                failure.close()
            if attempts == 1:
                log.warning(
                    "modelyard: %s %s%s failed (%s); retrying for up to %.0f s",
                    method,
                    self.url,
                    path,
                    failure if isinstance(failure, BaseException) else failure.status_code,
                    budget,
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _unreachable(self, exc: BaseException, first: bool, budget: float) -> StoreError:
        import httpx

        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if first and isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return StoreError(
                f"cannot reach the Modelyard server at {self.url} ({reason})", hint=_START_HINT
            )
        return StoreError(
            f"the Modelyard server at {self.url} did not answer for {budget:.0f} s ({reason})",
            hint="check that modelyard server is running and reachable; buffered metric points "
            "stay queued and are sent again",
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a JSON request and return the decoded JSON answer, raising errors by class."""
        response, _ = self.send(method, path, body=body, params=params)
        self.raise_for(response)
        return response.json()

    def raise_for(self, response: httpx.Response) -> None:
        """Raise the Modelyard error the server answered (the class named by its code)."""
        status = response.status_code
        if status < 400:
            return
        response.read()
        code = message = hint = None
        try:
            error = response.json()["error"]
            code, message, hint = error["code"], error["message"], error.get("hint")
        except (ValueError, KeyError, TypeError):
            pass
        where = f"{response.request.method} {response.request.url.path}"
        cls = error_class(code) if isinstance(code, str) else ModelyardError
        if status in (401, 403) and cls is ModelyardError:
            raise ConfigError(
                message if isinstance(message, str) else f"the server refused {where} ({status})",
                hint=hint
                if isinstance(hint, str)
                else "set MODELYARD_TOKEN to a token the server accepts (a write token to log)",
            )
        if not isinstance(code, str) or not isinstance(message, str):
            text = response.text[:200].strip()
            raise (StoreError if status >= 500 else InvalidArgument)(
                f"the server at {self.url} answered {status} to {where}"
                + (f": {text}" if text else ""),
                hint="check that MODELYARD_TRACKING_URI names a Modelyard server",
            )
        raise cls(message, hint=hint if isinstance(hint, str) else None)


# -- tracking -----------------------------------------------------------------------------------


def _q(value: str) -> str:
    return quote(value, safe="")


def _experiment(data: Mapping[str, Any]) -> Experiment:
    return Experiment(**_fields(Experiment, data))


def _run(data: Mapping[str, Any]) -> Run:
    values = _fields(Run, data)
    values["metrics"] = {k: _decode_float(v) for k, v in (data.get("metrics") or {}).items()}
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
                    "value": value if math.isfinite(value) else _encode_float(value),
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
                key=key, step=m["step"], timestamp=m["timestamp"], value=_decode_float(m["value"])
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


# -- artifacts ----------------------------------------------------------------------------------


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or DIGEST_RE.fullmatch(digest) is None:
        raise InvalidArgument(
            f"{digest!r} is not a blob digest: expected 64 lowercase hex characters (BLAKE3)",
            hint="pass the digest returned by put_file/put_bytes/put_stream (Blob.digest)",
        )
    return digest


class _ResponseStream(io.RawIOBase):
    """A raw, sequential file over the body of a streamed ``httpx.Response``."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(CHUNK_SIZE)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
            finally:
                super().close()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fileobj:
        while chunk := fileobj.read(CHUNK_SIZE):
            yield chunk


class RemoteArtifactStore:
    """The artifact store of a Modelyard server, with the methods of ``ArtifactStore``."""

    def __init__(self, settings: Settings, *, retry_budget: float = 60.0) -> None:
        self.settings = settings
        self.session = RemoteSession(
            settings.tracking_uri, settings.token, retry_budget=retry_budget
        )
        self.url = f"{self.session.url}/api/blobs"

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.url!r})"

    # -- writing ----------------------------------------------------------------------------

    def put_file(self, path: str | Path) -> Blob:
        """Upload the file at ``path`` unless the server has its bytes already (streamed)."""
        source = Path(path)
        if source.is_dir():
            raise InvalidArgument(
                f"{str(source)!r} is a folder, expected a file",
                hint="store the files inside it one by one",
            )
        if not source.is_file():
            raise NotFound(
                f"file {str(source)!r} does not exist", hint="check the path of the file to store"
            )
        digest, size = digest_file(source)
        if self.exists(digest):
            return self._blob(digest, size)
        return self._upload(digest, size, lambda: _file_chunks(source))

    def put_bytes(self, data: bytes) -> Blob:
        """Upload ``data`` unless the server has it already."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise InvalidArgument(
                f"put_bytes expects bytes, got {type(data).__name__}",
                hint="encode text first, e.g. text.encode('utf-8')",
            )
        digest = digest_bytes(data)
        if self.exists(digest):
            return self._blob(digest, len(data))
        return self._upload(digest, len(data), lambda: data)

    def put_stream(self, fileobj: BinaryIO) -> Blob:
        """Upload everything ``fileobj`` yields (spooled to a temporary file while hashed)."""
        fd, spool = tempfile.mkstemp(prefix="modelyard-put-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                h = hasher()
                while chunk := fileobj.read(CHUNK_SIZE):
                    if not isinstance(chunk, (bytes, bytearray, memoryview)):
                        raise InvalidArgument(
                            f"stream {fileobj!r} yields {type(chunk).__name__}, expected bytes",
                            hint="open the file in binary mode ('rb'), or pass bytes to put_bytes",
                        )
                    h.update(chunk)
                    out.write(chunk)
            digest, size = str(h.hexdigest()), os.path.getsize(spool)
            if self.exists(digest):
                return self._blob(digest, size)
            return self._upload(digest, size, lambda: _file_chunks(Path(spool)))
        finally:
            try:
                os.unlink(spool)
            except FileNotFoundError:
                pass

    def _upload(
        self, digest: str, size: int, content: Callable[[], bytes | Iterable[bytes]]
    ) -> Blob:
        response, _ = self.session.send(
            "PUT",
            f"/api/blobs/{digest}",
            content=content,
            headers={"content-type": "application/octet-stream", "content-length": str(size)},
        )
        self.session.raise_for(response)
        data = response.json()
        return self._blob(str(data["digest"]), int(data["size"]))

    @staticmethod
    def _blob(digest: str, size: int) -> Blob:
        from modelyard.artifacts import Blob

        return Blob(digest, size)

    # -- reading ----------------------------------------------------------------------------

    def _head(self, digest: str) -> int | None:
        response, _ = self.session.send("HEAD", f"/api/blobs/{_check_digest(digest)}")
        if response.status_code == 404:
            return None
        self.session.raise_for(response)
        return int(response.headers.get("content-length", "0"))

    def exists(self, digest: str) -> bool:
        """Whether the server stores blob ``digest``."""
        return self._head(digest) is not None

    def size(self, digest: str) -> int:
        """Size in bytes of blob ``digest``; NotFound when it is not stored."""
        size = self._head(digest)
        if size is None:
            raise self._not_found(digest)
        return size

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(
            f"artifact store {self.url} has no blob {digest}",
            hint="check the digest; a blob that no run references may have been garbage-collected",
        )

    def open(self, digest: str) -> BinaryIO:
        """A sequential reader of blob ``digest``, verified against the digest as it is read."""
        import httpx

        from modelyard.artifacts.reader import VerifiedReader

        response, _ = self.session.send("GET", f"/api/blobs/{_check_digest(digest)}", stream=True)
        if response.status_code >= 400:
            try:
                self.session.raise_for(response)
            finally:
                response.close()
        length = response.headers.get("content-length")
        size = int(length) if length and "content-encoding" not in response.headers else None
        raw = VerifiedReader(
            _ResponseStream(response), digest, size, url=self.url, errors=(httpx.HTTPError,)
        )
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=CHUNK_SIZE))

    def get_bytes(self, digest: str) -> bytes:
        """The verified bytes of blob ``digest``."""
        with self.open(digest) as reader:
            return reader.read()

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Download blob ``digest`` to ``dest`` (renamed into place only once verified)."""
        _check_digest(digest)
        target = Path(dest)
        if target.is_dir():
            raise InvalidArgument(
                f"destination {str(target)!r} is a folder, expected a file path",
                hint=f"name the file, e.g. {str(target / digest[:12])!r}",
            )
        with self.open(digest) as reader:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(reader, out, CHUNK_SIZE)
                os.replace(part, target)
            finally:
                try:
                    os.unlink(part)
                except FileNotFoundError:
                    pass
        return target
