"""The tracking routes of the HTTP API: experiments, runs, params, tags, metrics, datasets.

Each route checks its input (Pydantic models from :mod:`modelyard.server.schemas`, then the same
key and value rules the SDK applies), calls one method of the
:class:`~modelyard.tracking.sqlstore.SqlTrackingStore` on ``app.state.store`` and answers JSON.
Routes are plain ``def`` functions, so FastAPI runs them in its thread pool and a slow database
call never blocks the event loop.

Every write can be sent twice with the same effect, so clients retry freely: a run is created
with a client-chosen ``run_id`` (the same body again answers 200), a metric batch carries a
``batch_id`` (a repeated batch writes nothing), params accept the same value again, tags and
artifact records are upserts, and ``end`` takes the client's ``end_time``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import Response

from modelyard.errors import AlreadyExists, InvalidArgument, NotFound
from modelyard.server.responses import JSONBody, encode_float
from modelyard.server.schemas import (
    INT32_MAX,
    INT64_MAX,
    ArtifactIn,
    CodeIn,
    DatasetIn,
    ExperimentIn,
    HeartbeatIn,
    MarkDeadIn,
    MetricBatchIn,
    ParamsIn,
    RunEndIn,
    RunIn,
    SearchIn,
    TagsIn,
)
from modelyard.tracking import validation as v

if TYPE_CHECKING:
    from modelyard.artifacts import ArtifactStore
    from modelyard.tracking.entities import Experiment, Run
    from modelyard.tracking.sqlstore import SqlTrackingStore

__all__ = ["ROUTES", "add_routes", "run_json"]

QueryKey = Annotated[str, Query(min_length=1, max_length=250)]


def _store(request: Request) -> SqlTrackingStore:
    store: SqlTrackingStore = request.app.state.store
    return store


def _artifacts(request: Request) -> ArtifactStore:
    artifacts: ArtifactStore = request.app.state.artifacts
    return artifacts


def _ok(data: Any, status: int = 200) -> Response:
    return JSONBody(data, status_code=status)


def run_json(run: Run) -> dict[str, Any]:
    """A run as JSON: ``Run.to_dict()`` with non-finite metric values spelled as strings."""
    data = run.to_dict()
    data["metrics"] = {key: encode_float(value) for key, value in run.metrics.items()}
    return data


def _require_run(store: SqlTrackingStore, run_id: str) -> None:
    if run_id not in store.find_runs(run_id):
        raise NotFound(f"run {run_id!r} does not exist", hint="list runs with: modelyard runs list")


# -- experiments --------------------------------------------------------------------------------


def create_experiment(body: ExperimentIn, request: Request) -> Response:
    """Create an experiment; 409 AlreadyExists when the name is taken."""
    name = v.validate_name(body.name, "experiment")
    experiment = _store(request).create_experiment(name, body.description)
    return _ok(experiment.to_dict(), 201)


def list_experiments(request: Request) -> Response:
    """Every experiment with ``run_count`` and ``last_run_start`` (ms, or null)."""
    rows = _store(request).list_experiments()
    return _ok(
        {
            "experiments": [
                {**e.to_dict(), "run_count": n, "last_run_start": last} for e, n, last in rows
            ]
        }
    )


def get_experiment_by_name(
    request: Request, name: Annotated[str, Query(min_length=1, max_length=256)]
) -> Response:
    """The experiment called ``name``; 404 when there is none."""
    found = _store(request).get_experiment_by_name(name)
    if found is None:
        raise NotFound(
            f"experiment {name!r} does not exist",
            hint="create it with set_experiment(name), or list them with: "
            "modelyard experiments list",
        )
    return _ok(found.to_dict())


def get_experiment(
    request: Request, experiment_id: Annotated[int, Path(ge=0, le=INT32_MAX)]
) -> Response:
    """An experiment by id."""
    experiment: Experiment = _store(request).get_experiment(experiment_id)
    return _ok(experiment.to_dict())


# -- runs ---------------------------------------------------------------------------------------


def _same_run(existing: Run, body: RunIn) -> bool:
    return (
        existing.experiment_id,
        existing.name,
        existing.start_time,
        existing.parent_run_id,
        existing.user,
        existing.host,
        existing.pid,
    ) == (
        body.experiment_id,
        body.name,
        body.start_time,
        body.parent_run_id,
        body.user,
        body.host,
        body.pid,
    )


def _existing_run(store: SqlTrackingStore, body: RunIn) -> Response | None:
    """200 when the run exists as sent (a retry), 409 when it exists otherwise, else None."""
    if body.run_id not in store.find_runs(body.run_id):
        return None
    if _same_run(store.get_run(body.run_id), body):
        return _ok({"run_id": body.run_id})
    raise AlreadyExists(
        f"run {body.run_id} already exists with other attributes",
        hint="start a run with a fresh run_id (uuid4().hex)",
    )


def create_run(body: RunIn, request: Request) -> Response:
    """Start a run under the client's ``run_id``: 201, or 200 when the same run exists."""
    from modelyard.store.database import is_integrity_error
    from modelyard.tracking.environment import EnvironmentInfo

    store = _store(request)
    name = v.validate_name(body.name, "run")
    tags = {v.validate_key(k, "tag"): v.tag_value(k, value) for k, value in body.tags.items()}
    environment = (
        EnvironmentInfo.from_dict(body.environment.model_dump()) if body.environment else None
    )
    answer = _existing_run(store, body)
    if answer is not None:
        return answer
    store.get_experiment(body.experiment_id)  # NotFound, naming the id
    try:
        store.create_run(
            run_id=body.run_id,
            experiment_id=body.experiment_id,
            name=name,
            start_time=body.start_time,
            parent_run_id=body.parent_run_id,
            user=body.user,
            host=body.host,
            pid=body.pid,
            entry_point=body.entry_point,
            code=body.code,
            environment=environment,
            tags=tags,
        )
    except Exception as exc:  # two identical creates raced: the loser answers like a retry
        if not is_integrity_error(exc):
            raise
        answer = _existing_run(store, body)
        if answer is None:
            raise
        return answer
    return _ok({"run_id": body.run_id}, 201)


def _search(
    request: Request,
    experiment_ids: list[int],
    filter: str | None,
    order_by: list[str],
    max_results: int,
    page_token: str | None,
) -> Response:
    runs = _store(request).search_runs(experiment_ids, filter, order_by, max_results, page_token)
    return _ok({"runs": [run_json(r) for r in runs], "next_page_token": runs.next_page_token})


def search_runs_get(
    request: Request,
    experiment_id: Annotated[
        list[Annotated[int, Query(ge=0, le=INT32_MAX)]], Query(max_length=100)
    ],
    filter: Annotated[str | None, Query(max_length=2000)] = None,
    order_by: Annotated[
        list[Annotated[str, Query(max_length=256)]] | None, Query(max_length=10)
    ] = None,
    max_results: Annotated[int, Query(ge=1, le=INT64_MAX)] = 100,
    page_token: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Search runs (the filter language of docs/search.md); ``experiment_id`` may repeat.

    For longer filters use ``POST /api/runs/search``.
    """
    return _search(request, experiment_id, filter, order_by or [], max_results, page_token)


def search_runs(body: SearchIn, request: Request) -> Response:
    """Search runs, with the arguments in a JSON body (for long filters)."""
    return _search(
        request, body.experiment_ids, body.filter, body.order_by, body.max_results, body.page_token
    )


def find_runs(
    request: Request, prefix: Annotated[str, Query(min_length=1, max_length=32)]
) -> Response:
    """Ids of up to 5 runs whose id starts with ``prefix``."""
    return _ok({"run_ids": _store(request).find_runs(prefix)})


def heartbeat(body: HeartbeatIn, request: Request) -> Response:
    """Record that the process of these RUNNING runs is alive."""
    _store(request).heartbeat(body.run_ids, body.ts)
    return _ok({"run_ids": body.run_ids})


def running_pids(
    request: Request, host: Annotated[str, Query(max_length=256)]
) -> Response:  # fmt: skip
    """Process ids of the RUNNING runs of ``host`` (the client checks which are alive)."""
    pids: list[int] = []

    def note(pid: int) -> bool:
        pids.append(pid)
        return True  # alive: nothing is marked here

    _store(request).mark_dead_runs(host, note)
    return _ok({"pids": sorted(set(pids))})


def mark_dead(body: MarkDeadIn, request: Request) -> Response:
    """End the RUNNING runs of ``host`` whose process is one of ``pids`` as KILLED."""
    dead = set(body.pids)
    killed = _store(request).mark_dead_runs(body.host, lambda pid: pid not in dead)
    return _ok({"run_ids": killed})


def get_run(run_id: str, request: Request) -> Response:
    """A run with params, latest metrics, tags, datasets, code and environment."""
    return _ok(run_json(_store(request).get_run(run_id)))


def delete_run(run_id: str, request: Request) -> Response:
    """Mark an ended run deleted (409 InvalidState while it is RUNNING)."""
    _store(request).delete_run(run_id)
    return _ok({"run_id": run_id})


def end_run(run_id: str, body: RunEndIn, request: Request) -> Response:
    """Record how a run ended; send ``end_time`` so a retry changes nothing."""
    _store(request).end_run(run_id, body.status, end_time=body.end_time, error=body.error)
    return _ok({"run_id": run_id, "status": body.status})


def update_code(run_id: str, body: CodeIn, request: Request) -> Response:
    """Replace the recorded code version of a run."""
    store = _store(request)
    _require_run(store, run_id)
    store.update_code(run_id, body.code)
    return _ok({"run_id": run_id})


# -- params, tags, metrics ----------------------------------------------------------------------


def log_params(run_id: str, body: ParamsIn, request: Request) -> Response:
    """Record params; the same value again is fine, a different one is 400."""
    clean = {v.validate_key(k, "param"): v.param_value(k, val) for k, val in body.params.items()}
    _store(request).log_params(run_id, clean)
    return _ok({"run_id": run_id, "params": len(clean)})


def set_tags(run_id: str, body: TagsIn, request: Request) -> Response:
    """Set (insert or replace) tags."""
    clean = {v.validate_key(k, "tag"): v.tag_value(k, val) for k, val in body.tags.items()}
    _store(request).set_tags(run_id, clean)
    return _ok({"run_id": run_id, "tags": len(clean)})


def delete_tag(run_id: str, key: QueryKey, request: Request) -> Response:
    """Remove the tag ``key`` (nothing happens when it is not set)."""
    _store(request).delete_tag(run_id, v.validate_key(key, "tag"))
    return _ok({"run_id": run_id, "key": key})


async def log_metrics(request: Request) -> Response:
    """Write a batch of points; a ``batch_id`` already written answers ``{"written": 0}``.

    The body (``MetricBatchIn``) is parsed and validated in one pass by Pydantic's JSON
    parser, in a worker thread with the database write, so a 50,000-point batch neither
    blocks the event loop nor builds an intermediate tree of Python dicts.
    """
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()
    written = await run_in_threadpool(_write_batch, _store(request), raw)
    return _ok({"written": written})


def _write_batch(store: SqlTrackingStore, raw: bytes) -> int:
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    from modelyard.server.responses import decode_float

    try:
        body = MetricBatchIn.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc
    points = []
    for p in body.points:
        key = v.validate_key(p.key, "metric")
        points.append((p.run_id, key, decode_float(p.value), p.timestamp, p.step))
    return store.log_metrics(points, batch_id=body.batch_id)


def get_metric_history(run_id: str, key: QueryKey, request: Request) -> Response:
    """Every point of metric ``key`` of a run, by step then time."""
    history = _store(request).get_metric_history(run_id, key)
    return _ok(
        {
            "key": key,
            "metrics": [
                {"step": m.step, "timestamp": m.timestamp, "value": encode_float(m.value)}
                for m in history
            ],
        }
    )


# -- datasets and artifact records --------------------------------------------------------------


def log_dataset(run_id: str, body: DatasetIn, request: Request) -> Response:
    """Record a dataset the run read (``direction: input``) or wrote (``output``)."""
    from modelyard.data import DatasetInfo

    info = DatasetInfo(**body.info.model_dump(by_alias=True))
    name = v.validate_name(body.name, "dataset")
    _store(request).log_dataset(
        run_id, info, name=name, context=body.context, direction=body.direction
    )
    return _ok({"run_id": run_id, "digest": info.digest})


def log_artifact(run_id: str, body: ArtifactIn, request: Request) -> Response:
    """Record that the run's ``path`` holds blob ``digest`` (upload it first: PUT /api/blobs)."""
    from modelyard.artifacts import validate_artifact_path

    path = validate_artifact_path(body.path)
    try:
        size = _artifacts(request).size(body.digest)
    except NotFound as exc:
        raise InvalidArgument(
            f"cannot record artifact {path!r} of run {run_id}: blob {body.digest} is not stored",
            hint=f"upload the bytes first with PUT /api/blobs/{body.digest}",
        ) from exc
    if size != body.size:
        raise InvalidArgument(
            f"artifact {path!r}: blob {body.digest} has {size} bytes, not {body.size}",
            hint="send the size returned by the blob upload",
        )
    _store(request).log_artifact(run_id, path, body.digest, body.size)
    return _ok({"path": path, "digest": body.digest, "size": body.size})


def list_artifacts(
    run_id: str,
    request: Request,
    prefix: Annotated[str, Query(max_length=1024)] = "",
    path: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> Response:
    """The run's artifacts under ``prefix`` (a folder path), or just the one at ``path``."""
    from modelyard.artifacts import validate_artifact_path

    store = _store(request)
    if path is not None:
        found = [store.get_artifact(run_id, validate_artifact_path(path))]
    else:
        found = store.list_artifacts(run_id, prefix)
    return _ok({"artifacts": [a.to_dict() for a in found]})


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MetricBatchIn"}}},
    }
}

# -- the route table ---------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
    ("POST", "/api/experiments", create_experiment, {"status_code": 201, "tags": ["experiments"]}),
    ("GET", "/api/experiments", list_experiments, {"tags": ["experiments"]}),
    ("GET", "/api/experiments/by-name", get_experiment_by_name, {"tags": ["experiments"]}),
    ("GET", "/api/experiments/{experiment_id}", get_experiment, {"tags": ["experiments"]}),
    ("POST", "/api/runs", create_run, {"status_code": 201, "tags": ["runs"]}),
    ("GET", "/api/runs", search_runs_get, {"tags": ["runs"]}),
    ("POST", "/api/runs/search", search_runs, {"tags": ["runs"]}),
    ("GET", "/api/runs/find", find_runs, {"tags": ["runs"]}),
    ("POST", "/api/runs/heartbeat", heartbeat, {"tags": ["runs"]}),
    ("GET", "/api/runs/running-pids", running_pids, {"tags": ["runs"]}),
    ("POST", "/api/runs/mark-dead", mark_dead, {"tags": ["runs"]}),
    ("GET", "/api/runs/{run_id}", get_run, {"tags": ["runs"]}),
    ("DELETE", "/api/runs/{run_id}", delete_run, {"tags": ["runs"]}),
    ("POST", "/api/runs/{run_id}/end", end_run, {"tags": ["runs"]}),
    ("PUT", "/api/runs/{run_id}/code", update_code, {"tags": ["runs"]}),
    ("POST", "/api/runs/{run_id}/params", log_params, {"tags": ["params"]}),
    ("POST", "/api/runs/{run_id}/tags", set_tags, {"tags": ["tags"]}),
    ("DELETE", "/api/runs/{run_id}/tags", delete_tag, {"tags": ["tags"]}),
    ("POST", "/api/metrics", log_metrics, {"tags": ["metrics"], "openapi_extra": _BATCH_BODY}),
    ("GET", "/api/runs/{run_id}/metrics", get_metric_history, {"tags": ["metrics"]}),
    ("POST", "/api/runs/{run_id}/datasets", log_dataset, {"tags": ["datasets"]}),
    ("POST", "/api/runs/{run_id}/artifacts", log_artifact, {"tags": ["artifacts"]}),
    ("GET", "/api/runs/{run_id}/artifacts", list_artifacts, {"tags": ["artifacts"]}),
]


def add_routes(app: FastAPI) -> None:
    """Add the routes of :data:`ROUTES` to ``app``."""
    for method, path, endpoint, extra in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], **extra)
