"""The HTTP plumbing of remote mode: one session per store, retries and error mapping.

:class:`RemoteSession` holds a keep-alive ``httpx.Client`` (TCP_NODELAY, thread-safe, opened
on first use) that sends ``MODELYARD_TOKEN`` as a bearer token and retries connection errors,
timeouts and 502/503/504 with exponential backoff (0.1 s doubling to 5 s, for up to 60 s; only
2 s while the server has never answered in this process, so a typo in the URL fails fast). 4xx
answers are never retried. :meth:`RemoteSession.raise_for` turns an error answer into the
Modelyard error class its body names (:func:`~modelyard.errors.error_class`), so one
``except`` works locally and remotely. JSON bodies carry non-finite floats as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (:func:`encode_float`, :func:`decode_float`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError, InvalidArgument, ModelyardError, StoreError, error_class

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteSession", "decode_float", "encode_float"]

log = logging.getLogger("modelyard.remote")

#: Base URLs that have answered at least once in this process (they get the long retry budget).
_answered: set[str] = set()
_RETRY_STATUSES = {502, 503, 504}
_START_HINT = "start it with: modelyard server (or check MODELYARD_TRACKING_URI)"


def encode_float(value: float) -> float | str:
    """``value`` as JSON carries it: non-finite floats become strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: Any) -> float:
    """The float a JSON value encodes (the inverse of :func:`encode_float`)."""
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return float(value)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return encode_float(obj)
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
