"""The ASGI app of ``modelyard server``: REST API, web UI, tokens, one error shape.

:func:`create_app` opens the metadata store and the artifact store named by the settings once
(one engine and its connection pool for the life of the app, never one per request) and puts
them on ``app.state.store``, ``app.state.artifacts`` and ``app.state.settings``, where the
routes and the web UI find them. The layers, from the outside in: :class:`ErrorGuard`
(request ids, the 500 of last resort), :class:`TokenAuth` (when tokens are configured), then
FastAPI's routing with one handler per error kind.

>>> from modelyard.settings import Settings
>>> app = create_app(Settings.load(database_url="sqlite://", artifact_url="/tmp/yard-doc"))
>>> app.state.store.db.dialect
'sqlite'
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from modelyard.errors import StoreError
from modelyard.server import api, blobs, pipelines_api, registry_api
from modelyard.server.auth import TokenAuth, TokenTable, install_login
from modelyard.server.responses import ErrorGuard, JSONBody, install_error_handlers
from modelyard.server.schemas import MetricBatchIn

if TYPE_CHECKING:
    from modelyard.settings import Settings

__all__ = ["create_app", "create_app_from_environment"]

log = logging.getLogger("modelyard.server")


def _version() -> str:
    import modelyard

    return str(modelyard.__version__)


def create_app(settings: Settings) -> FastAPI:
    """The server app over the stores named by ``settings`` (opened now, closed at shutdown)."""
    from modelyard.artifacts import open_artifact_store
    from modelyard.store.database import Database
    from modelyard.tracking.sqlstore import SqlTrackingStore

    store = SqlTrackingStore(
        Database.open(settings.database_url, busy_timeout=settings.busy_timeout)
    )
    artifacts = open_artifact_store(settings.artifact_url)
    tokens = TokenTable.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.db.dispose()

    app = FastAPI(
        **_no_telemetry(),
        title="Modelyard",
        version=_version(),
        description="Tracking API of Modelyard: experiments, runs, params, metrics, tags, "
        'datasets and artifacts. Errors: {"error": {"code", "message", "hint"}, '
        '"status"}.',
        openapi_url="/api/openapi.json",
        docs_url=None,  # FastAPI's docs page loads Swagger UI from a CDN; we work offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.artifacts = artifacts
    app.state.tokens = tokens
    install_error_handlers(app)
    api.add_routes(app)
    blobs.add_routes(app)
    registry_api.add_routes(app)
    pipelines_api.add_routes(app)

    @app.get("/health", tags=["server"])
    def health(request: Request) -> Response:
        """Liveness and database reachability (open without a token)."""
        body: dict[str, Any] = {"status": "ok", "version": _version(), "database": "ok"}
        try:
            request.app.state.store.db.revision()
        except StoreError as exc:
            body.update(status="error", database=exc.message)
            return JSONBody(body, status_code=503)
        return JSONBody(body)

    install_login(app, tokens)
    _install_openapi(app)
    _mount_ui(app)
    app.add_middleware(TokenAuth, tokens=tokens)
    app.add_middleware(ErrorGuard)  # added last: the outermost layer
    return app


def _no_telemetry() -> dict[str, Any]:
    """Turn FastAPI's built-in OpenTelemetry export off (newer FastAPI has it): no telemetry."""
    import inspect

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    off = ("tracing", "metrics", "logs", "operation_spans", "auto_configure")
    return {"telemetry": dict.fromkeys(off, False)}


def create_app_from_environment() -> FastAPI:
    """:func:`create_app` with ``Settings.load()``: the factory each worker process calls."""
    from modelyard.settings import Settings

    return create_app(Settings.load())


def _mount_ui(app: FastAPI) -> None:
    if importlib.util.find_spec("modelyard.ui") is None:
        return
    try:
        from modelyard.ui import mount_ui
    except ImportError as exc:  # the UI is optional: the API keeps working without it
        log.error("the web UI is not available: %s", exc)
        return
    mount_ui(app)


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["NotFound"]},
                "message": {"type": "string"},
                "hint": {"type": "string"},
            },
        },
        "status": {"type": "integer"},
    },
}


def _install_openapi(app: FastAPI) -> None:
    """Describe errors as they are: 400 in the one error shape (not FastAPI's 422)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        error_ref = {"$ref": "#/components/schemas/Error"}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["400"] = {
                    "description": "Invalid argument (the message names the field)",
                    "content": {"application/json": {"schema": error_ref}},
                }
                responses["default"] = {
                    "description": "Error: NotFound 404, AlreadyExists 409, InvalidState 409, "
                    "Unauthorized 401, Forbidden 403, StoreError 503, ...",
                    "content": {"application/json": {"schema": error_ref}},
                }
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Error"] = _ERROR_SCHEMA
        # POST /api/metrics reads its body itself (one-pass JSON validation): describe it.
        batch = MetricBatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(batch.pop("$defs", {}))
        components["MetricBatchIn"] = batch
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
