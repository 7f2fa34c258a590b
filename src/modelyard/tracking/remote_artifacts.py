"""Remote mode for blobs: the artifact store of a Modelyard server, over HTTP.

:class:`RemoteArtifactStore` has the methods of
:class:`~modelyard.artifacts.store.ArtifactStore`. Blobs stream both ways: uploads send the
file in 1 MiB chunks after a ``HEAD`` says the server lacks it; downloads are verified against
the digest as they arrive (:class:`~modelyard.artifacts.reader.VerifiedReader`) and a file is
renamed into place only once verified. Calls go through a
:class:`~modelyard.tracking.remote_session.RemoteSession` (token, keep-alive, retries).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from modelyard._digest import CHUNK_SIZE, digest_bytes, digest_file, hasher
from modelyard.artifacts.store import check_digest, save_verified
from modelyard.errors import InvalidArgument, NotFound
from modelyard.tracking.remote_session import RemoteSession

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

    from modelyard.artifacts import Blob
    from modelyard.settings import Settings

__all__ = ["RemoteArtifactStore"]


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
        response, _ = self.session.send("HEAD", f"/api/blobs/{check_digest(digest)}")
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

        response, _ = self.session.send("GET", f"/api/blobs/{check_digest(digest)}", stream=True)
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
        return save_verified(self.open, digest, dest)
