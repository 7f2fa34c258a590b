"""The registry routes of the HTTP API: registered models, versions, aliases, lineage, diff.

Each route checks its input (Pydantic bodies and bounded path and query values), calls one
function of the registry SDK (:mod:`modelyard.registry`) with ``client=`` an
:class:`AppClient` (a ``TrackingClient`` over the app's open metadata and artifact stores, so
no second engine is opened) and answers JSON in the one error shape of the API. Routes are
plain ``def`` functions, run in FastAPI's thread pool. Tokens are enforced by the app's
middleware: a read token may only ``GET``.

Write bodies may name the caller as ``actor`` (``user@host``, recorded in the model's history;
default: the server's), and a registration may carry a client-chosen ``request_id``: a repeat
with the same one answers the version the first registered (the SDK's remote registry,
:mod:`modelyard.registry.remote`, sends both).

Everything a route returns is the ``to_dict()`` of the SDK's result: a ``RegisteredModel``, a
``ModelVersion`` (with ``uri`` and ``source``), a ``ModelAlias``, a list of ``ModelEvent``, a
``LineageGraph``, a ``ModelDiff``. ``GET /api/lineage?format=svg`` answers the picture of
:meth:`~modelyard.registry.LineageGraph.to_svg` as ``image/svg+xml``.

>>> sorted({path for _, path, _, _ in ROUTES if "aliases" in path})
['/api/models/{name}/aliases/{alias}']
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field, model_validator

from modelyard import registry as reg
from modelyard.errors import InvalidArgument
from modelyard.registry.uris import parse_model_uri, validate_alias, validate_model_name
from modelyard.server.responses import JSONBody
from modelyard.server.schemas import INT32_MAX, Key, _Body
from modelyard.tracking.client import TrackingClient

if TYPE_CHECKING:
    from starlette.datastructures import State

    from modelyard.artifacts import ArtifactStore
    from modelyard.settings import Settings
    from modelyard.tracking.sqlstore import SqlTrackingStore

__all__ = ["ROUTES", "SVG_HEADERS", "AppClient", "add_routes", "registry_client", "router"]

ModelName = Annotated[str, Path(min_length=1, max_length=256, description="a registered model")]
Version = Annotated[int, Path(ge=1, le=INT32_MAX, description="a version number: 1, 2, 3...")]
Alias = Annotated[str, Path(min_length=1, max_length=64, description="e.g. champion")]
Uri = Annotated[
    str,
    Query(
        min_length=1,
        max_length=2048,
        description="models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest "
        "or runs:/<run_id>/<path>",
    ),
]
VersionRef = Annotated[
    str, Query(min_length=1, max_length=64, description="a version number, latest, or an alias")
]
SVG_HEADERS = {"content-security-policy": "sandbox", "x-content-type-options": "nosniff"}
_CLIENT_LOCK = threading.Lock()


class AppClient(TrackingClient):
    """A ``TrackingClient`` over stores that are already open (the app's).

    The registry SDK takes ``client=`` and reads ``client.store.db``; this one hands it the
    server's ``SqlTrackingStore`` and ``ArtifactStore``, so a request opens no engine.
    """

    def __init__(
        self, settings: Settings, store: SqlTrackingStore, artifacts: ArtifactStore
    ) -> None:
        super().__init__(settings)
        self._store = store
        self._artifacts = artifacts


def registry_client(state: State) -> TrackingClient:
    """The :class:`AppClient` of an app (made once, kept on ``app.state.registry_client``).

    ``state`` must hold ``store``, ``artifacts`` and ``settings``, as ``create_app`` and
    ``mount_ui`` apps do.
    """
    client: TrackingClient | None = getattr(state, "registry_client", None)
    if client is None or client.store is not state.store:
        with _CLIENT_LOCK:
            client = getattr(state, "registry_client", None)
            if client is None or client.store is not state.store:
                client = AppClient(state.settings, state.store, state.artifacts)
                state.registry_client = client
    return client


def _client(request: Request) -> TrackingClient:
    return registry_client(request.app.state)


def _ok(data: Any, status: int = 200) -> Response:
    return JSONBody(data, status_code=status)


def _check_uri(uri: str) -> str:
    """``uri`` when its version number fits the store (a huge one is a 400, not a 500)."""
    if uri.startswith("models:/"):
        parsed = parse_model_uri(uri)
        if parsed.version is not None and parsed.version > INT32_MAX:
            raise InvalidArgument(
                f"model URI {uri!r}: version {parsed.version} is too large",
                hint=f"list the versions with: modelyard models versions {parsed.name}",
            )
    elif not uri.startswith("runs:/"):
        raise InvalidArgument(
            f"{uri[:200]!r} is not a model URI or a run URI",
            hint="use models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest "
            "or runs:/<run_id>/<path>",
        )
    return uri


def _version_ref(name: str, ref: str) -> str:
    """A version of model ``name`` as the diff takes it: a number, ``latest`` or an alias."""
    if ref.isdigit():
        if not 1 <= int(ref) <= INT32_MAX:
            raise InvalidArgument(
                f"version {ref} of model {name!r} is out of range: versions are 1, 2, 3...",
                hint=f"list them with: modelyard models versions {name}",
            )
        return ref
    if ref == "latest":
        return ref
    return validate_alias(ref.lstrip("@"))


# -- request bodies -----------------------------------------------------------------------------


Actor = Annotated[
    str | None,
    Field(max_length=256, description="who asks (user@host), recorded in the model's history"),
]


class ActorIn(_Body):
    """An optional body of the routes that take no other input: who asks."""

    actor: Actor = None


class RegisterIn(_Body):
    """Register a logged model: ``source`` (a URI) or ``run_id`` (+ ``artifact_path``)."""

    source: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None, description="runs:/<run_id>/<artifact_path> or a models:/ URI"
    )
    run_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    artifact_path: Annotated[str, Field(min_length=1, max_length=1024)] = "model"
    description: Annotated[str, Field(max_length=10_000)] | None = None
    request_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:\-]{1,64}$",
        description="a client-chosen key: a repeat with the same one answers the version the "
        "first registered instead of registering another",
    )
    actor: Actor = None

    @model_validator(mode="after")
    def _one_source(self) -> RegisterIn:
        if (self.source is None) == (self.run_id is None):
            raise ValueError("give exactly one of 'source' (runs:/<run_id>/<path>) and 'run_id'")
        return self


class AliasIn(_Body):
    version: Annotated[int, Field(ge=1, le=INT32_MAX)]
    actor: Actor = None


class ModelUpdateIn(_Body):
    description: Annotated[str, Field(max_length=10_000)] | None = None
    tags: dict[Key, Annotated[str, Field(max_length=5000)]] | None = None
    actor: Actor = None


class VersionUpdateIn(_Body):
    description: Annotated[str, Field(max_length=10_000)] | None
    actor: Actor = None


# -- registered models --------------------------------------------------------------------------


def list_models(request: Request) -> Response:
    """Every registered model, by name, with its latest version, count and aliases."""
    models = reg.list_registered_models(client=_client(request))
    return _ok({"models": [m.to_dict() for m in models]})


def _model_body(client: TrackingClient, name: str) -> dict[str, Any]:
    model = reg.get_registered_model(name, client=client)
    versions = reg.list_model_versions(name, client=client)
    return {**model.to_dict(), "model_versions": [v.to_dict() for v in versions]}


def get_model(name: ModelName, request: Request) -> Response:
    """A registered model with ``model_versions`` (oldest first) and ``aliases``."""
    return _ok(_model_body(_client(request), name))


def update_model(name: ModelName, body: ModelUpdateIn, request: Request) -> Response:
    """Set the description and/or tags (a tag set to ``""`` is removed)."""
    model = reg.update_registered_model(
        name,
        description=body.description,
        tags=body.tags,
        actor=body.actor,
        client=_client(request),
    )
    return _ok(model.to_dict())


def resolve_uri(
    request: Request, uri: Annotated[str | None, Query(min_length=1, max_length=2048)] = None
) -> Response:
    """The model files a URI names: ``run_id``, ``artifact_path`` and, for models:/, ``version``
    and the whole ``model_version``.

    Without ``uri`` this is ``GET /api/models/{name}`` of a model called ``resolve``.
    """
    client = _client(request)
    if uri is None:
        return _ok(_model_body(client, "resolve"))
    if _check_uri(uri).startswith("runs:/"):
        run_id, path = reg.resolve_model_uri(uri, client=client)
        return _ok(
            {"uri": uri, "name": None, "version": None, "run_id": run_id, "artifact_path": path}
        )
    version = reg.resolve_model_version(uri, client=client)
    return _ok(
        {
            "uri": uri,
            "name": version.name,
            "version": version.version,
            "run_id": version.run_id,
            "artifact_path": version.artifact_path,
            "source": version.source,
            "status": version.status,
            "model_digest": version.model_digest,
            "model_version": version.to_dict(),
        }
    )


# -- versions -----------------------------------------------------------------------------------


def list_versions(
    name: ModelName, request: Request, include_archived: bool = True
) -> Response:  # fmt: skip
    """The versions of a model, oldest first."""
    versions = reg.list_model_versions(
        name, include_archived=include_archived, client=_client(request)
    )
    return _ok({"model_versions": [v.to_dict() for v in versions]})


def register_version(name: ModelName, body: RegisterIn, request: Request) -> Response:
    """Register a model a run logged as the next version of ``name`` (created on first use).

    With ``request_id``, a repeat answers the version the first request registered.
    """
    client = _client(request)
    source = _check_uri(body.source) if body.source is not None else str(body.run_id)
    version = reg.register_model(
        source,
        validate_model_name(name),
        artifact_path=body.artifact_path,
        description=body.description,
        request_id=body.request_id,
        actor=body.actor,
        client=client,
    )
    return _ok(version.to_dict(), 201)


def get_version(name: ModelName, version: Version, request: Request) -> Response:
    """One version (any status)."""
    return _ok(reg.get_model_version(name, version, client=_client(request)).to_dict())


def update_version(
    name: ModelName, version: Version, body: VersionUpdateIn, request: Request
) -> Response:
    """Set the description of a version."""
    found = reg.update_model_version(
        name, version, description=body.description, actor=body.actor, client=_client(request)
    )
    return _ok(found.to_dict())


def archive_version(
    name: ModelName, version: Version, request: Request, body: ActorIn | None = None
) -> Response:
    """Archive a version (409 InvalidState while an alias points at it)."""
    who = body.actor if body is not None else None
    found = reg.archive_model_version(name, version, actor=who, client=_client(request))
    return _ok(found.to_dict())


def restore_version(
    name: ModelName, version: Version, request: Request, body: ActorIn | None = None
) -> Response:
    """Bring an archived version back to ``ready``."""
    who = body.actor if body is not None else None
    found = reg.restore_model_version(name, version, actor=who, client=_client(request))
    return _ok(found.to_dict())


# -- aliases and history ------------------------------------------------------------------------


def get_alias(name: ModelName, alias: Alias, request: Request) -> Response:
    """The version an alias points at (404 listing the model's aliases when it is unset)."""
    found = reg.get_model_version_by_alias(name, alias, client=_client(request))
    return _ok(found.to_dict())


def set_alias(name: ModelName, alias: Alias, body: AliasIn, request: Request) -> Response:
    """Point an alias at a ready version; ``previous_version`` says where it was."""
    moved = reg.set_alias(name, alias, body.version, actor=body.actor, client=_client(request))
    return _ok(moved.to_dict())


def delete_alias(
    name: ModelName, alias: Alias, request: Request, body: ActorIn | None = None
) -> Response:
    """Remove an alias; ``previous_version`` says where it pointed."""
    who = body.actor if body is not None else None
    return _ok(reg.delete_alias(name, alias, actor=who, client=_client(request)).to_dict())


def list_events(
    name: ModelName,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """The model's history, oldest first: registrations, alias moves, archives, verdicts."""
    events = reg.list_model_events(name, limit=limit, client=_client(request))
    return _ok({"events": [e.to_dict() for e in events]})


# -- lineage and diff ---------------------------------------------------------------------------


def get_lineage(
    request: Request,
    uri: Uri,
    depth: Annotated[int, Query(ge=0, le=10)] = 3,
    format: Literal["json", "svg", "dot"] = "json",
) -> Response:
    """The lineage graph of a model version or run; ``format=svg`` is a picture, ``dot`` DOT."""
    graph = reg.lineage(_check_uri(uri), depth=depth, client=_client(request))
    if format == "svg":
        return Response(graph.to_svg(), media_type="image/svg+xml", headers=SVG_HEADERS)
    if format == "dot":
        return Response(graph.to_dot(), media_type="text/vnd.graphviz; charset=utf-8")
    return _ok(graph.to_dict())


def get_dataset_lineage(
    request: Request,
    digest: Annotated[str, Path(min_length=6, max_length=64, pattern=r"^[0-9a-fA-F]+$")],
    depth: Annotated[int, Query(ge=0, le=10)] = 3,
) -> Response:
    """The runs that used a dataset (a 6+ character digest prefix) and the versions it made."""
    found = reg.lineage_of_dataset(digest, depth=depth, client=_client(request))
    return _ok(found.to_dict())


def diff_versions(
    name: ModelName, version_a: VersionRef, version_b: VersionRef, request: Request
) -> Response:
    """What changed from ``version_a`` to ``version_b``: data, code, environment, params,
    metrics (versions as numbers, ``latest`` or alias names)."""
    name = validate_model_name(name)
    diff = reg.diff_model_versions(
        name, _version_ref(name, version_a), _version_ref(name, version_b), client=_client(request)
    )
    return _ok(diff.to_dict())


# -- the route table ----------------------------------------------------------------------------

_TAGS: dict[str, Any] = {"tags": ["models"]}
ROUTES: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
    ("GET", "/api/models", list_models, _TAGS),
    ("GET", "/api/models/resolve", resolve_uri, _TAGS),
    ("GET", "/api/models/{name}", get_model, _TAGS),
    ("PATCH", "/api/models/{name}", update_model, _TAGS),
    ("GET", "/api/models/{name}/versions", list_versions, _TAGS),
    ("POST", "/api/models/{name}/versions", register_version, {**_TAGS, "status_code": 201}),
    ("GET", "/api/models/{name}/versions/{version}", get_version, _TAGS),
    ("PATCH", "/api/models/{name}/versions/{version}", update_version, _TAGS),
    ("POST", "/api/models/{name}/versions/{version}/archive", archive_version, _TAGS),
    ("POST", "/api/models/{name}/versions/{version}/restore", restore_version, _TAGS),
    ("GET", "/api/models/{name}/aliases/{alias}", get_alias, _TAGS),
    ("PUT", "/api/models/{name}/aliases/{alias}", set_alias, _TAGS),
    ("DELETE", "/api/models/{name}/aliases/{alias}", delete_alias, _TAGS),
    ("GET", "/api/models/{name}/events", list_events, _TAGS),
    ("GET", "/api/models/{name}/diff", diff_versions, _TAGS),
    ("GET", "/api/lineage", get_lineage, {"tags": ["lineage"]}),
    ("GET", "/api/lineage/datasets/{digest}", get_dataset_lineage, {"tags": ["lineage"]}),
]

#: The routes of :data:`ROUTES` on one router, to mount them in another app.
router = APIRouter()
for _method, _path, _endpoint, _extra in ROUTES:
    router.add_api_route(_path, _endpoint, methods=[_method], **_extra)


def add_routes(app: FastAPI) -> None:
    """Add the routes of :data:`ROUTES` to ``app`` (what ``create_app`` does).

    They are added one by one rather than with ``app.include_router(router)``: newer FastAPI
    keeps an included router as one opaque entry of ``app.routes``, and the checks that walk
    every route (error shape, tokens) must see each of them.
    """
    for method, path, endpoint, extra in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], **extra)
