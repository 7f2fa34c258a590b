"""The verifying reader: stored bytes are checked against their digest as they stream past.

:class:`VerifiedReader` wraps a backend file object, feeds every byte it hands out to a BLAKE3
hasher, and when the stream ends (and already when it reaches the recorded size, so a reader
that stops at exactly ``size`` bytes is covered too) compares the digest with the one the blob
is named by. A mismatch raises :class:`~modelyard.errors.IntegrityError` from that read, so the
last chunk of damaged bytes never reaches the caller and a copy fed from the reader can be
thrown away. The reader is sequential: it cannot seek (use ``ArtifactStore.get_file`` for random
access). ``ArtifactStore.open`` returns it wrapped in an ``io.BufferedReader``.

>>> import io
>>> from modelyard._digest import digest_bytes
>>> raw = VerifiedReader(io.BytesIO(b"abc"), digest_bytes(b"abc"), 3, url="mem://", errors=())
>>> io.BufferedReader(raw).read()
b'abc'
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from modelyard._digest import CHUNK_SIZE, hasher
from modelyard.errors import BackendError, IntegrityError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["VerifiedReader"]


class VerifiedReader(io.RawIOBase):
    """A raw, read-only, non-seekable stream that verifies ``digest`` when it reaches the end.

    ``errors`` are the backend exception types to report as
    :class:`~modelyard.errors.BackendError` (naming ``url``) when a read fails midway.
    """

    def __init__(
        self,
        fileobj: Any,
        digest: str,
        size: int | None,
        *,
        url: str,
        errors: tuple[type[BaseException], ...],
    ) -> None:
        super().__init__()
        self._file = fileobj
        self._digest = digest
        self._size = size
        self._url = url
        self._errors = errors
        self._hasher = hasher()
        self._position = 0
        self._failure: IntegrityError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._failure is not None:
            raise self._failure
        view = memoryview(buffer).cast("B")
        try:
            count = self._file.readinto(view)
        except self._errors as exc:
            raise BackendError(
                f"artifact store {self._url}: reading blob {self._digest} failed: {exc}",
                hint="check that the artifact store is reachable, then read the blob again",
            ) from exc
        count = count or 0
        if count:
            self._hasher.update(view[:count])
            self._position += count
        if count == 0 or self._position == self._size:
            self._verify()
        return count

    def readall(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            # a buffer the size of what is left (a fresh 1 MiB one costs ~1 ms in page faults,
            # more than reading a small blob); past the recorded size, a small one to see EOF
            left = None if self._size is None else self._size - self._position
            size = CHUNK_SIZE if left is None else min(CHUNK_SIZE, left) if left > 0 else 8192
            buffer = bytearray(size)
            count = self.readinto(buffer)
            if not count:
                return b"".join(chunks)
            chunks.append(bytes(buffer) if count == size else bytes(memoryview(buffer)[:count]))

    def close(self) -> None:
        if not self.closed:
            try:
                self._file.close()
            finally:
                super().close()

    def _verify(self) -> None:
        actual = str(self._hasher.hexdigest())
        if actual == self._digest and (self._size is None or self._position == self._size):
            return
        self._failure = IntegrityError(
            f"artifact blob {self._digest} in {self._url} is damaged: its {self._position} "
            f"stored bytes hash to {actual}"
            + (f" (expected {self._size} bytes)" if self._size != self._position else ""),
            hint="the stored copy was changed or corrupted; delete it with "
            "ArtifactStore.delete(digest) and store the original bytes again",
        )
        raise self._failure
