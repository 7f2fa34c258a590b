"""The pipeline routes of the HTTP API: pipelines, pipeline runs, their DAG, explain, and
the writes of pipelines in remote mode.

Reading: each ``GET`` route calls one function of :mod:`modelyard.pipelines` with ``client=``
the app's :func:`~modelyard.server.registry_api.registry_client` and answers the ``to_dict()``
of what it returns, or an error in the one error shape. ``GET
/api/pipelines/runs/{run_id}/graph`` answers the DAG as JSON, or with ``format=svg`` the
picture of :func:`~modelyard.pipelines.pipeline_svg` as ``image/svg+xml``.

Writing: running or resuming a pipeline imports the user's code, which stays in the user's
process; in remote mode that process records what it does through the write routes, one per
method of :class:`~modelyard.pipelines.sqlstore.SqlPipelineStore` the scheduler calls (the
SDK's :mod:`modelyard.pipelines.remote`), plus the look-ups it makes on the way (cache
entries, files a step read, metrics, a step's previous run). Bodies are Pydantic models with
bounded sizes; ids are chosen by the client, so each write may be repeated after a lost
answer with the same effect (a record is inserted once under its run id). Writes need a write
token (the app's middleware lets a read token only ``GET``).

>>> [path for method, path, _, _ in ROUTES if method == "GET"][:5]
['/api/pipelines', '/api/pipelines/runs', '/api/pipelines/runs/{run_id}', \
'/api/pipelines/runs/{run_id}/graph', '/api/pipelines/explain']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, ConfigDict, Field

from modelyard import pipelines as pl
from modelyard.errors import AlreadyExists, InvalidArgument, NotFound
from modelyard.server.registry_api import SVG_HEADERS, registry_client
from modelyard.server.responses import JSONBody
from modelyard.server.schemas import (
    INT32_MAX,
    Count,
    DatasetInfoIn,
    Digest,
    Key,
    Millis,
    _Body,
)
from modelyard.server.schemas import RunId as FullRunId

if TYPE_CHECKING:
    from modelyard.pipelines.sqlstore import SqlPipelineStore
    from modelyard.tracking.client import TrackingClient

__all__ = ["ROUTES", "add_routes"]

_RUN_ID = {"min_length": 4, "max_length": 32, "pattern": r"^[0-9a-fA-F]+$"}
RunId = Annotated[
    str, Path(**_RUN_ID, description="a pipeline run id, or a unique prefix of 4+ characters")
]
RunRef = Annotated[
    str, Query(**_RUN_ID, description="a pipeline run id, or a unique prefix of 4+ characters")
]
PipelineName = Annotated[
    str | None, Query(min_length=1, max_length=256, description="only runs of this pipeline")
]
NewRunId = Annotated[
    str, Path(pattern=r"^[0-9a-f]{32}$", description="a run id the client chose (uuid4().hex)")
]
CacheKey = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="a step cache key")]


def _client(request: Request) -> TrackingClient:
    return registry_client(request.app.state)


def _store(request: Request) -> SqlPipelineStore:
    from modelyard.pipelines.sqlstore import SqlPipelineStore

    return SqlPipelineStore(request.app.state.store.db)


def list_pipelines(request: Request) -> Response:
    """Every pipeline that has runs, by name: run count, newest run, its status and source."""
    found = pl.list_pipelines(client=_client(request))
    return JSONBody({"pipelines": [p.to_dict() for p in found]})


def list_runs(
    request: Request,
    pipeline: PipelineName = None,
    max_results: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Pipeline runs, newest first, with their steps and latest metrics."""
    runs = pl.list_pipeline_runs(pipeline, max_results=max_results, client=_client(request))
    return JSONBody({"pipeline_runs": [r.to_dict() for r in runs]})


def get_run(run_id: RunId, request: Request) -> Response:
    """One pipeline run: params, status, error, and each step (status, cache hit, outputs)."""
    return JSONBody(pl.get_pipeline_run(run_id, client=_client(request)).to_dict())


def get_graph(
    run_id: RunId, request: Request, format: Literal["json", "svg"] = "json"
) -> Response:  # fmt: skip
    """The DAG of a pipeline run: steps with their inputs (JSON), or its picture (SVG)."""
    run = pl.get_pipeline_run(run_id, client=_client(request))
    if format == "svg":
        return Response(pl.pipeline_svg(run), media_type="image/svg+xml", headers=SVG_HEADERS)
    return JSONBody({"run_id": run.run_id, "pipeline": run.pipeline, **run.graph})


def explain(run_a: RunRef, run_b: RunRef, request: Request) -> Response:
    """For each step of two pipeline runs: the same cache key, or which parts of it changed
    (a function's code, a param, an input, a file, a package)."""
    return JSONBody(pl.explain_runs(run_a, run_b, client=_client(request)).to_dict())


# -- request bodies of the writes --------------------------------------------------------------


def _json_size(limit: int) -> AfterValidator:
    """A validator refusing values longer than ``limit`` characters as JSON."""

    def check(value: Any) -> Any:
        if len(json.dumps(value, separators=(",", ":"), default=str)) > limit:
            raise ValueError(f"is larger than {limit:,} characters as JSON")
        return value

    return AfterValidator(check)


class _Open(_Body):
    """A record the SDK writes whole: known fields are checked, newer ones are kept."""

    model_config = ConfigDict(extra="allow")


Name = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=10_000)]
StepKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="a step cache key")]
Short = Annotated[str, Field(max_length=128)]
Small = _json_size(1_000_000)
Large = _json_size(10_000_000)


class GraphStepIn(_Open):
    name: Name
    inputs: dict[Name, tuple[Name, Name]] = Field(default_factory=dict)


class GraphIn(_Open):
    pipeline: Name
    steps: Annotated[list[GraphStepIn], Field(max_length=100_000)]


class PipelineRunIn(_Body):
    """The record of a pipeline run, for the tracked run of the same id."""

    pipeline: Name
    source: Text | None = None
    params: Annotated[dict[Key, Any], Small]
    graph: Annotated[GraphIn, Large]
    executor: Annotated[str, Field(min_length=1, max_length=32)]
    resumed_from: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class FileIn(_Open):
    path: Annotated[str, Field(min_length=1, max_length=1024)]
    digest: Digest
    size: Count


class OutputIn(_Open):
    """An :class:`~modelyard.pipelines.OutputRef` as ``to_dict()`` writes it."""

    name: Name
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    digest: Annotated[str, Field(min_length=1, max_length=128)]
    blob: Digest | None = None
    size: Count = 0
    path: Annotated[str, Field(max_length=1024)] = ""
    library: Name | None = None
    uri: Annotated[str, Field(max_length=2048)] | None = None
    files: Annotated[list[FileIn], Field(max_length=100_000)] = Field(default_factory=list)


Outputs = Annotated[list[OutputIn], Field(max_length=10_000), Large]
Artifacts = Annotated[
    list[tuple[Annotated[str, Field(min_length=1, max_length=1024)], Digest, Count]],
    Field(max_length=100_000),
]
Links = Annotated[list[tuple[Digest, Literal["input", "output"], Name]], Field(max_length=100_000)]


class ReadIn(_Body):
    path: Annotated[str, Field(min_length=1, max_length=10_000)]
    digest: Digest


class ComponentsIn(_Open):
    """What a cache key was made of (``code``, ``params``, ``inputs``, ``files``, ...)."""

    code: dict[Annotated[str, Field(max_length=1000)], Annotated[str, Field(max_length=128)]] = (
        Field(default_factory=dict)
    )
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, Annotated[str, Field(max_length=128)]] = Field(default_factory=dict)
    files: dict[str, Annotated[str, Field(max_length=128)]] = Field(default_factory=dict)
    environment: Annotated[str, Field(max_length=128)] | None = None
    reads: Annotated[list[ReadIn], Field(max_length=100_000)] | None = None


Components = Annotated[ComponentsIn, Small]


class RunFieldsIn(_Body):
    """The fields a step run copies from its pipeline run."""

    user: Annotated[str, Field(max_length=256)] = ""
    host: Annotated[str, Field(max_length=256)] = ""
    pid: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    entry_point: Text | None = None
    code: Annotated[dict[str, Any], Small] | None = None
    environment_digest: Digest | None = None


class CachedIn(_Body):
    """A cache hit: the run that computed the outputs, the outputs, and their links."""

    cached_from: FullRunId
    outputs: Outputs
    artifacts: Artifacts = Field(default_factory=list)
    datasets: Links = Field(default_factory=list)


class StepIn(_Body):
    """A step run: a child run of ``pipeline_run_id``, RUNNING, or FINISHED with ``cached``."""

    pipeline_run_id: FullRunId
    experiment_id: Annotated[int, Field(ge=1, le=INT32_MAX)]
    step: Name
    run_fields: RunFieldsIn = RunFieldsIn()
    params: Annotated[dict[Key, Annotated[str, Field(max_length=6000)]], Field(max_length=10_000)]
    tags: Annotated[dict[Key, Annotated[str, Field(max_length=8000)]], Field(max_length=1000)]
    cache_key: StepKey | None = None
    components: Components | None = None
    cached: CachedIn | None = None


class CacheIn(_Body):
    """The cache entry a finished step leaves (``replace`` overwrites a stale one)."""

    key: StepKey
    step: Name
    outputs: Outputs
    reads: Annotated[list[ReadIn], Field(max_length=100_000)] | None = None
    expires_at: Millis | None = None
    replace: bool = False


class StepEndIn(_Body):
    """How a step run ended: status, attempts, outputs and their links, its cache entry."""

    status: Literal["FINISHED", "FAILED", "KILLED"]
    error: Annotated[str, Field(max_length=100_000)] | None = None
    attempts: Annotated[int, Field(ge=0, le=INT32_MAX)]
    outputs: Outputs | None = None
    artifacts: Artifacts = Field(default_factory=list)
    datasets: Links = Field(default_factory=list)
    cache: CacheIn | None = None
    components: Components | None = None
    datasets_info: Annotated[list[DatasetInfoIn], Field(max_length=10_000)] = Field(
        default_factory=list, description="dataset records to store first (step outputs)"
    )


class AttemptsIn(_Body):
    attempts: Annotated[int, Field(ge=0, le=INT32_MAX)]


def _dump(value: Any) -> Any:
    """A body value as the store takes it (fields the client did not send stay unset)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump(exclude_unset=True, by_alias=True)


@contextmanager
def _references(what: str) -> Iterator[None]:
    """Turn a constraint the store enforces into the error that names it: a second step of
    the same name in a pipeline run (AlreadyExists), or a run, experiment or environment
    that is not there (NotFound)."""
    from modelyard.store.database import is_integrity_error

    try:
        yield
    except Exception as exc:
        if not is_integrity_error(exc):
            raise
        text = str(exc).lower()
        if "unique" in text or "duplicate key" in text:
            raise AlreadyExists(
                f"{what}: its pipeline run already has a step of that name",
                hint="each step of a pipeline run has its own name and run id",
            ) from exc
        raise NotFound(
            f"{what} names a run, experiment or environment the store does not have",
            hint="create the tracked runs first (POST /api/runs), then their pipeline records",
        ) from exc


# -- writes -------------------------------------------------------------------------------------


def put_pipeline_run(run_id: NewRunId, body: PipelineRunIn, request: Request) -> Response:
    """Record tracked run ``run_id`` as a run of ``pipeline`` (once: a repeat writes nothing)."""
    with _references(f"pipeline run {run_id}"):
        _store(request).create_pipeline_run(
            run_id,
            pipeline=body.pipeline,
            source=body.source,
            params=body.params,
            graph=_dump(body.graph),
            executor=body.executor,
            resumed_from=body.resumed_from,
        )
    return JSONBody({"run_id": run_id})


def put_step_run(run_id: NewRunId, body: StepIn, request: Request) -> Response:
    """Start step run ``run_id`` (a RUNNING child run), or with ``cached`` record a FINISHED
    cache hit; once: a repeat writes nothing, an id another run has is a 409."""
    store = _store(request)
    common: dict[str, Any] = {
        "run_id": run_id,
        "pipeline_run_id": body.pipeline_run_id,
        "experiment_id": body.experiment_id,
        "step": body.step,
        "run_fields": body.run_fields.model_dump(),
        "params": body.params,
        "tags": body.tags,
        "cache_key": body.cache_key,
        "components": _dump(body.components),
    }
    with _references(f"step run {run_id}"):
        if body.cached is None:
            store.start_step_run(**common)
        else:
            store.record_cached_step(
                **common,
                cached_from=body.cached.cached_from,
                outputs=_dump(body.cached.outputs),
                artifacts=list(body.cached.artifacts),
                datasets=list(body.cached.datasets),
            )
    return JSONBody({"run_id": run_id})


def end_step_run(run_id: NewRunId, body: StepEndIn, request: Request) -> Response:
    """End step run ``run_id``: its links, outputs, cache entry and status, in one transaction
    (after the dataset records of ``datasets_info``, which the links name)."""
    store = _store(request)
    if body.datasets_info:
        store.save_datasets(_infos(body.datasets_info))
    cache = None
    if body.cache is not None:
        cache = {**_dump(body.cache), "reads": _dump(body.cache.reads)}
        cache.setdefault("replace", False)
        cache.setdefault("expires_at", None)
    with _references(f"step run {run_id}"):
        store.finish_step_run(
            run_id=run_id,
            status=body.status,
            error=body.error,
            attempts=body.attempts,
            outputs=_dump(body.outputs),
            artifacts=list(body.artifacts),
            datasets=list(body.datasets),
            cache=cache,
            components=_dump(body.components),
        )
    return JSONBody({"run_id": run_id, "status": body.status})


def update_step_run(run_id: NewRunId, body: AttemptsIn, request: Request) -> Response:
    """Set the number of attempts of step run ``run_id`` (between retries)."""
    _store(request).update_attempts(run_id, body.attempts)
    return JSONBody({"run_id": run_id, "attempts": body.attempts})


def _infos(datasets: list[DatasetInfoIn]) -> list[Any]:
    from modelyard.data import DatasetInfo

    return [DatasetInfo(**d.model_dump(by_alias=True)) for d in datasets]


# -- the look-ups of a running pipeline ---------------------------------------------------------


def get_cache(key: CacheKey, request: Request) -> Response:
    """The cache entry of a key (``entry`` is null when there is none)."""
    return JSONBody({"cache_key": key, "entry": _store(request).get_cache(key)})


def get_reads(run_id: NewRunId, request: Request) -> Response:
    """Files and folders step run ``run_id`` recorded as inputs (``yard.log_input(path)``)."""
    return JSONBody({"run_id": run_id, "reads": _store(request).dataset_reads(run_id)})


def latest_metrics(
    request: Request,
    run_id: Annotated[
        list[Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]], Query(max_length=1000)
    ],
) -> Response:
    """The latest value of every metric of each run (``run_id`` repeats, up to 1000)."""
    if len(run_id) > 1000:
        raise InvalidArgument(
            f"{len(run_id)} run ids in one request; at most 1000",
            hint="ask in chunks of up to 1000 run ids",
        )
    return JSONBody({"metrics": _store(request).latest_metrics(run_id)})


def previous_step(
    request: Request,
    pipeline: Annotated[str, Query(min_length=1, max_length=256)],
    step: Annotated[str, Query(min_length=1, max_length=256)],
    before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """The newest finished run of ``step`` in a run of ``pipeline`` (``step_run`` or null)."""
    return JSONBody({"step_run": _store(request).previous_step_run(pipeline, step, before)})


_TAGS: dict[str, Any] = {"tags": ["pipelines"]}
ROUTES: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
    ("GET", "/api/pipelines", list_pipelines, _TAGS),
    ("GET", "/api/pipelines/runs", list_runs, _TAGS),
    ("GET", "/api/pipelines/runs/{run_id}", get_run, _TAGS),
    ("GET", "/api/pipelines/runs/{run_id}/graph", get_graph, _TAGS),
    ("GET", "/api/pipelines/explain", explain, _TAGS),
    ("PUT", "/api/pipelines/runs/{run_id}", put_pipeline_run, _TAGS),
    ("PUT", "/api/pipelines/steps/{run_id}", put_step_run, _TAGS),
    ("PATCH", "/api/pipelines/steps/{run_id}", update_step_run, _TAGS),
    ("POST", "/api/pipelines/steps/{run_id}/end", end_step_run, _TAGS),
    ("GET", "/api/pipelines/steps/{run_id}/reads", get_reads, _TAGS),
    ("GET", "/api/pipelines/cache/{key}", get_cache, _TAGS),
    ("GET", "/api/pipelines/metrics", latest_metrics, _TAGS),
    ("GET", "/api/pipelines/previous-step", previous_step, _TAGS),
]


def add_routes(app: FastAPI) -> None:
    """Add the routes of :data:`ROUTES` to ``app`` (one by one, as ``registry_api`` does)."""
    for method, path, endpoint, extra in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], **extra)
