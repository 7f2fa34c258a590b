"""Blob and artifact-content routes: bytes stream through, never whole in memory.

``PUT /api/blobs/{digest}`` hands the request body, chunk by chunk as it arrives, to
:meth:`ArtifactStore.put_stream` running in a worker thread (which spools it to a temporary
file while hashing). The body is hashed on the way too, and when it ends with another digest
than the URL names the read fails, so the store publishes nothing and the client gets 400.
``GET /api/blobs/{digest}`` and ``GET /api/runs/{run_id}/artifacts/{path}`` stream the stored
bytes back, verified as they are read; ``HEAD /api/blobs/{digest}`` says whether a blob exists
(and its size) so clients upload only what is missing.

Artifact content is served with ``Content-Security-Policy: sandbox`` and ``nosniff``: an HTML
or SVG file a run logged can be viewed, but cannot run script as the Modelyard site.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.requests import ClientDisconnect

from modelyard._digest import CHUNK_SIZE, DIGEST_RE, hasher
from modelyard.errors import InvalidArgument, NotFound
from modelyard.server.responses import JSONBody

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from modelyard.artifacts import ArtifactStore

__all__ = ["ROUTES", "add_routes"]

_SAFE_HEADERS = {
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
}


def _check_digest(digest: str) -> str:
    if DIGEST_RE.fullmatch(digest) is None:
        raise InvalidArgument(
            f"{digest[:80]!r} is not a blob digest: expected 64 lowercase hex characters (BLAKE3)",
            hint="name a blob by the BLAKE3 digest of its bytes",
        )
    return digest


def _artifacts(request: Request) -> ArtifactStore:
    artifacts: ArtifactStore = request.app.state.artifacts
    return artifacts


class _BodyReader(io.RawIOBase):
    """A blocking file over the request body, read from a worker thread, checking the digest.

    Each read waits on the event loop for the next chunk the client sent. At the end of the
    body the bytes seen must hash to ``digest``; if not, the read raises InvalidArgument, so
    the store's ``put_stream`` fails before it publishes anything.
    """

    def __init__(self, chunks: AsyncIterator[bytes], digest: str) -> None:
        super().__init__()
        self._chunks = chunks
        self._digest = digest
        self._hasher = hasher()
        self._pending = memoryview(b"")
        self._size = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            chunk = anyio.from_thread.run(self._next)
            if chunk:
                self._hasher.update(chunk)
                self._size += len(chunk)
                self._pending = memoryview(chunk)
            else:
                self._done = True
                self._verify()
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return b""

    def _verify(self) -> None:
        actual = str(self._hasher.hexdigest())
        if actual != self._digest:
            raise InvalidArgument(
                f"the {self._size} bytes sent for blob {self._digest} hash to {actual}",
                hint="PUT a blob at /api/blobs/<BLAKE3 digest of its bytes>; the file may have "
                "changed while it was sent",
            )


async def put_blob(digest: str, request: Request) -> Response:
    """Store the request body as the blob ``digest`` (400 when the bytes hash otherwise)."""
    _check_digest(digest)
    reader = cast(BinaryIO, _BodyReader(request.stream(), digest))
    try:
        blob = await anyio.to_thread.run_sync(_artifacts(request).put_stream, reader)
    except ClientDisconnect:
        return Response(status_code=400)
    return JSONBody({"digest": blob.digest, "size": blob.size})


def head_blob(digest: str, request: Request) -> Response:
    """200 with ``content-length`` when the blob is stored, else 404 (no body)."""
    _check_digest(digest)
    store = _artifacts(request)
    if not store.exists(digest):
        return Response(status_code=404)
    return Response(status_code=200, headers={"content-length": str(store.size(digest))})


def _chunks(reader: Any) -> Iterator[bytes]:
    try:
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk
    finally:
        reader.close()


def _stream(store: ArtifactStore, digest: str, headers: dict[str, str]) -> StreamingResponse:
    try:
        size = store.size(digest)
        reader = store.open(digest)
    except NotFound as exc:  # the store's message names its folder or bucket: keep that inside
        raise NotFound(
            f"this server stores no blob {digest}",
            hint="upload it with PUT /api/blobs/<digest>, or check the digest",
        ) from exc
    return StreamingResponse(
        _chunks(reader),
        media_type=headers.pop("content-type", "application/octet-stream"),
        headers={"content-length": str(size), "etag": f'"{digest}"', **headers},
    )


def get_blob(digest: str, request: Request) -> Response:
    """The bytes of blob ``digest``, streamed (verified against the digest as they are read)."""
    _check_digest(digest)
    return _stream(_artifacts(request), digest, {})


def get_artifact_content(
    run_id: str, path: str, request: Request, download: bool = False
) -> Response:
    """The content of a run's artifact, streamed; ``?download=true`` asks to save it."""
    from urllib.parse import quote

    from modelyard.artifacts import validate_artifact_path

    path = validate_artifact_path(path)
    artifact = request.app.state.store.get_artifact(run_id, path)
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/json", "application/xml"):
        kind += "; charset=utf-8"
    name = path.rsplit("/", 1)[-1]
    disposition = "attachment" if download else "inline"
    headers = {
        "content-type": kind,
        "content-disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
        **_SAFE_HEADERS,
    }
    return _stream(_artifacts(request), artifact.digest, headers)


# -- the route table ---------------------------------------------------------------------------

ROUTES: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
    ("PUT", "/api/blobs/{digest}", put_blob, {"tags": ["blobs"]}),
    ("HEAD", "/api/blobs/{digest}", head_blob, {"tags": ["blobs"]}),
    ("GET", "/api/blobs/{digest}", get_blob, {"tags": ["blobs"]}),
    (
        "GET",
        "/api/runs/{run_id}/artifacts/{path:path}",
        get_artifact_content,
        {"tags": ["artifacts"]},
    ),
]


def add_routes(app: FastAPI) -> None:
    """Add the routes of :data:`ROUTES` to ``app``."""
    for method, path, endpoint, extra in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], **extra)
