"""JSON bodies and the one error shape of the HTTP API.

Every answer of the API is JSON rendered by :class:`JSONBody`: standard JSON only, so a NaN or
an infinity anywhere becomes the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (metric
values travel that way on purpose; :func:`encode_float` and :func:`decode_float` are the pair).
Every error has one body, ``{"error": {"code", "message", "hint"}, "status"}``:
:func:`install_error_handlers` maps :class:`~modelyard.errors.ModelyardError` by its class,
FastAPI's request validation errors to ``InvalidArgument`` naming the field, unknown routes to
``NotFound``, and :class:`ErrorGuard` (the outermost middleware) turns anything unexpected into
a 500 ``InternalError`` carrying a request id; the traceback goes to the server log only.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from modelyard.errors import InvalidArgument, ModelyardError, NotFound

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ErrorGuard",
    "JSONBody",
    "decode_float",
    "encode_float",
    "error_body",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("modelyard.server")

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_float(value: float) -> float | str:
    """``value`` for JSON: itself when finite, else ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | int | str) -> float:
    """The inverse of :func:`encode_float`."""
    if isinstance(value, str):
        return _NON_FINITE[value]
    return float(value)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return encode_float(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class JSONBody(JSONResponse):
    """A JSON response that never emits the non-standard ``NaN``/``Infinity`` tokens."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except ValueError:  # a NaN or infinity somewhere: spell it as a string
            text = json.dumps(_finite(content), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


def error_body(code: str, message: str, status: int, hint: str | None = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message"[, "hint"]}, "status"}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    return {"error": error, "status": status}


def error_response(
    code: str,
    message: str,
    status: int,
    hint: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return JSONBody(error_body(code, message, status, hint), status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where, rest = parts[0], parts[1:]
    else:
        where, rest = "request", parts
    out = ""
    for part in rest:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return f"{where} field {out!r}" if out else f"request {where}"


def validation_message(exc: RequestValidationError) -> str:
    """One sentence per problem (at most three), each naming the field."""
    problems = []
    for error in exc.errors()[:3]:
        problem = f"{_field(error.get('loc', ()))}: {error.get('msg', 'is invalid')}"
        problems.append(problem)
    more = len(exc.errors()) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _wants_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/api" or path == "/health":
        return False
    return "text/html" in request.headers.get("accept", "")


def _render(request: Request, exc: ModelyardError) -> Response:
    renderer: Callable[[Request, ModelyardError], Response] | None = getattr(
        request.app.state, "render_error", None
    )
    if renderer is not None and _wants_page(request):
        return renderer(request, exc)
    return JSONBody(exc.to_dict(), status_code=exc.status)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error a route can raise to the one JSON shape.

    A page (not under ``/api``, asked for by a browser) may be rendered as HTML instead: when
    ``app.state.render_error(request, exc)`` is set (the web UI sets it), it gets the error.
    """
    from fastapi.exceptions import RequestValidationError

    async def on_modelyard_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ModelyardError):  # pragma: no cover - registered for the class
            raise exc
        return _render(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RequestValidationError):  # pragma: no cover
            raise exc
        error = InvalidArgument(
            validation_message(exc),
            hint="see the request schema at /api/openapi.json",
        )
        return _render(request, error)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
            raise exc
        status = exc.status_code
        if status == 404:
            error: ModelyardError = NotFound(
                f"no such page or API route: {request.method} {request.url.path}",
                hint="the API routes are listed in /api/openapi.json",
            )
            return _render(request, error)
        if status == 405:
            return error_response(
                "MethodNotAllowed",
                f"{request.url.path} does not accept {request.method}",
                405,
                hint="the methods of every route are listed in /api/openapi.json",
                headers=exc.headers,
            )
        detail = exc.detail if isinstance(exc.detail, str) else "bad request"
        code = "InvalidArgument" if status == 400 else f"HTTP{status}"
        return error_response(code, detail, status, headers=exc.headers)

    app.add_exception_handler(ModelyardError, on_modelyard_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


class ErrorGuard:
    """Outermost middleware: request ids, NUL checks and the 500 answer of last resort.

    Every request gets an ``x-request-id`` (the client's, when it sent a sane one). A URL with
    a NUL byte is refused with 400 (databases refuse NUL in text; better to say so up front).
    An exception no handler took becomes ``500 InternalError`` naming the request id, and its
    traceback is logged under that id; when the response had already started, the connection
    is dropped so the client sees a broken body rather than a truncated one that looks whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        path = scope.get("path", "")
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            response = error_response(
                "InvalidArgument",
                "the URL contains a NUL character",
                400,
                hint="remove the %00 from the path or query",
            )
            await response(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("internal error (request id %s) in %s %s", request_id,
                          scope.get("method"), path)  # fmt: skip
            if started:
                raise
            response = error_response(
                "InternalError",
                f"internal error (request id {request_id})",
                500,
                hint="this is a bug in Modelyard: report it with the server log lines of this "
                "request id",
            )
            await response(scope, receive, send_with_id)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii():
            text = str(value.decode("ascii"))
            if text.replace("-", "").isalnum():
                return text
    return uuid.uuid4().hex[:16]
