"""Bearer tokens: with ``MODELYARD_SERVER_TOKEN`` or a tokens file, nothing is served without one.

:class:`TokenAuth` is an ASGI middleware over the whole app, API and pages alike, so a route
added later (by the web UI or a plugin) is protected without doing anything. A request carries
its token as ``Authorization: Bearer <token>`` or, for a browser, in the ``modelyard_token``
cookie that the small login page (``/login``) sets. Without a valid token an API call gets
``401 Unauthorized`` in the one error shape, and a browser asking for a page is sent to the
login page. A ``read`` token may only read: any POST, PUT, PATCH or DELETE is ``403
Forbidden``. Only ``/health`` and the login page are open.

Tokens file format, one token per line, ``#`` starts a comment::

    s3cr3t-for-ci      write
    dashboard-viewer   read

The file is read again when it changes, so tokens can be added or revoked without a restart.
Tokens are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hmac
import html
import os
import threading
import time
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelyard.errors import ConfigError
from modelyard.server.responses import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from modelyard.settings import Settings

__all__ = ["COOKIE", "TokenAuth", "TokenTable", "read_tokens_file"]

COOKIE = "modelyard_token"
READ, WRITE = "read", "write"
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_OPEN_PATHS = {"/health", "/login", "/logout"}
_MAX_TOKEN = 4096


def read_tokens_file(path: str) -> dict[str, str]:
    """``{token: "read" | "write"}`` from a tokens file; ConfigError naming a bad line."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the server tokens file {path!r}: {exc.strerror or exc}",
            hint="set MODELYARD_SERVER_TOKENS_FILE to a readable file of lines like "
            "'<token> read' or '<token> write'",
        ) from exc
    tokens: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in (READ, WRITE) or len(parts[0]) > _MAX_TOKEN:
            raise ConfigError(
                f"server tokens file {path!r}, line {number}: expected '<token> read' or "
                f"'<token> write', got {len(parts)} word(s)"
                + (f" ending in {parts[-1]!r}" if len(parts) == 2 else ""),
                hint="one token per line followed by its scope, e.g. 'a1b2c3 write'",
            )
        tokens[parts[0]] = parts[1]
    return tokens


class TokenTable:
    """The valid tokens and their scopes, re-reading the tokens file when it changes."""

    def __init__(self, token: str = "", tokens_file: str = "") -> None:
        self.token = token
        self.tokens_file = tokens_file
        self._from_file: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        if tokens_file:
            self._reload(force=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenTable:
        return cls(settings.server_token, settings.server_tokens_file)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.tokens_file)

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            try:
                info = os.stat(self.tokens_file)
                stamp = (info.st_mtime_ns, info.st_size)
            except OSError:
                stamp = None
            if force or stamp != self._stamp:
                try:
                    self._from_file = read_tokens_file(self.tokens_file)
                except ConfigError:
                    if force:
                        raise
                    self._from_file = {}  # a broken file while being edited: nobody gets in
                self._stamp = stamp

    def scope_of(self, candidate: str | None) -> str | None:
        """``"read"`` or ``"write"`` for a valid token, else None (compared in constant time)."""
        if not candidate or len(candidate) > _MAX_TOKEN:
            return None
        given = candidate.encode("utf-8", "surrogateescape")
        found = None
        if self.token and hmac.compare_digest(given, self.token.encode("utf-8")):
            found = WRITE
        if self.tokens_file:
            self._reload()
            for token, scope in self._from_file.items():
                if hmac.compare_digest(given, token.encode("utf-8")) and found is None:
                    found = scope
        return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _token(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization:
        kind, _, value = authorization.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    cookie = _header(scope, b"cookie")
    if cookie and COOKIE in cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except CookieError:
            return None
        morsel = jar.get(COOKIE)
        return morsel.value if morsel is not None and morsel.value else None
    return None


class TokenAuth:
    """ASGI middleware: every request but ``/health`` and the login page needs a token."""

    def __init__(self, app: ASGIApp, tokens: TokenTable) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens.enabled:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        grant = self.tokens.scope_of(_token(scope))
        method = scope.get("method", "GET")
        response: Response | None = None
        if grant is None:
            response = _unauthorized(scope, path)
        elif grant == READ and method in _WRITE_METHODS:
            response = error_response(
                "Forbidden",
                f"{method} {path} needs a write token; this token may only read",
                403,
                hint="use a token listed with 'write' in the server tokens file",
            )
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unauthorized(scope: Scope, path: str) -> Response:
    accept = _header(scope, b"accept") or ""
    is_page = not path.startswith("/api") and "text/html" in accept
    if is_page and scope.get("method") in ("GET", "HEAD"):
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return error_response(
        "Unauthorized",
        f"{path} needs a token: this server requires authentication",
        401,
        hint="send 'Authorization: Bearer <token>' (the SDK sends MODELYARD_TOKEN)",
        headers={"www-authenticate": "Bearer"},
    )


# -- the login page -----------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Modelyard · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px system-ui, sans-serif; background: #f6f7f9; margin: 0; }}
main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem;
        border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.25rem; margin: 0 0 1rem; }}
input {{ width: 100%; box-sizing: border-box; padding: .5rem; margin: .25rem 0 1rem;
         font: inherit; }}
button {{ padding: .5rem 1rem; font: inherit; }}
.error {{ color: #b00020; }}
</style></head>
<body><main><h1>Modelyard</h1>
<form method="post" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<input type="hidden" name="next" value="{next}">
{error}<button type="submit">Sign in</button>
</form></main></body></html>
"""


def _safe_next(target: str | None) -> str:
    """A local path to go back to (never another site: no scheme, no '//')."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(next_path: str = "/", error: str = "", status: int = 200) -> HTMLResponse:
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = _PAGE.format(next=html.escape(_safe_next(next_path), quote=True), error=message)
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


def install_login(app: FastAPI, tokens: TokenTable) -> None:
    """Add ``GET/POST /login`` and ``GET /logout`` (cookie sign-in for browsers)."""

    @app.get("/login", include_in_schema=False)
    def login_form(next: str = "/") -> Response:
        if not tokens.enabled:
            return RedirectResponse(_safe_next(next), status_code=303)
        return login_page(next)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = (await request.body())[:16_384].decode("utf-8", "replace")
        form = parse_qs(body)
        token = (form.get("token") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        if not tokens.enabled:
            return RedirectResponse(target, status_code=303)
        if tokens.scope_of(token) is None:
            return login_page(target, "That token is not valid.", status=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=30 * 24 * 3600,
        )
        return response

    @app.get("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response
