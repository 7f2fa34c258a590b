"""The content-addressed artifact store: blobs named by the BLAKE3 digest of their bytes.

An :class:`ArtifactStore` keeps immutable blobs under ``<root>/objects/<d[0:2]>/<d[2:4]>/<d>``
on any fsspec filesystem; only the filesystem differs between a local folder and an
S3-compatible bucket. Naming bytes by their digest gives three things for free: the same bytes
are stored once (a put whose digest exists writes nothing), every read is checked against the
name (:class:`~modelyard.artifacts.reader.VerifiedReader` raises IntegrityError at the end of
damaged bytes), and a digest, checked against ``DIGEST_RE`` on every call, can never spell a
path outside the store. Writes never hold a whole file in memory: local puts hash while copying
into ``<root>/tmp/`` and publish with an atomic ``os.replace``; S3 puts hash first (the key
needs the digest), skip what exists and stream the upload in parts.
:func:`open_artifact_store` picks the filesystem from a URL and imports it lazily.

>>> import tempfile
>>> folder = tempfile.TemporaryDirectory()
>>> store = open_artifact_store(folder.name)
>>> blob = store.put_bytes(b"hello")
>>> store.get_bytes(blob.digest)
b'hello'
>>> folder.cleanup()
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import unquote, urlsplit

from modelyard._digest import CHUNK_SIZE, DIGEST_RE, digest_bytes, hasher
from modelyard.errors import (
    BackendError,
    ConfigError,
    InvalidArgument,
    InvalidState,
    NotFound,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fsspec import AbstractFileSystem

__all__ = [
    "SUPPORTED_SCHEMES",
    "ArtifactStore",
    "Blob",
    "check_digest",
    "open_artifact_store",
    "save_verified",
]

SUPPORTED_SCHEMES = ("file", "s3")
_INSTALL_S3 = "pip install 'modelyard[s3]'"
_URL_HINT = (
    "set MODELYARD_ARTIFACT_URL to a folder path, file:///absolute/path or s3://bucket/prefix"
)
# S3 uploads of 16 MiB and more go in 8 MiB parts, two at a time: botocore holds about two
# copies of each part, so a put peaks near 32 MiB whatever the file size (measured: 33 MiB
# for 128 MiB; four parts in flight gave 79 MiB for no gain on loopback).
_S3_PART_SIZE = 8 << 20
_S3_PARTS_IN_FLIGHT = 2
_S3_READ_BLOCK = 4 << 20
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEME_WITHOUT_SLASHES_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


@dataclass(frozen=True)
class Blob:
    """A stored blob: its BLAKE3 ``digest`` (64 lowercase hex characters) and ``size`` in bytes."""

    digest: str
    size: int


def check_digest(digest: str) -> str:
    """``digest`` when it names a blob (64 lowercase hex characters), else InvalidArgument."""
    if not isinstance(digest, str) or DIGEST_RE.fullmatch(digest) is None:
        raise InvalidArgument(
            f"{digest!r} is not a blob digest: expected 64 lowercase hex characters (BLAKE3)",
            hint="pass the digest returned by put_file/put_bytes/put_stream (Blob.digest)",
        )
    return digest


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def save_verified(open_blob: Callable[[str], BinaryIO], digest: str, dest: str | Path) -> Path:
    """Write blob ``digest``, read verified through ``open_blob``, to ``dest``; return it.

    The bytes stream into a temporary file beside ``dest`` that is renamed over ``dest`` only
    once verified: after an IntegrityError there is no ``dest`` file. Shared by the local and
    remote artifact stores.
    """
    check_digest(digest)
    target = Path(dest)
    if target.is_dir():
        raise InvalidArgument(
            f"destination {str(target)!r} is a folder, expected a file path",
            hint=f"name the file, e.g. {str(target / digest[:12])!r}",
        )
    with open_blob(digest) as reader:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(reader, out, CHUNK_SIZE)
            os.replace(part, target)
        finally:
            _unlink_quietly(part)
    return target


def _fsync_dir(path: str) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_hashing(source: Any, dest: BinaryIO | None) -> tuple[str, int]:
    """Read ``source`` to its end in 1 MiB chunks, hashing them (and writing them to ``dest``)."""
    h = hasher()
    size = 0
    if hasattr(source, "readinto"):
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while count := source.readinto(view):
            h.update(view[:count])
            if dest is not None:
                dest.write(view[:count])
            size += count
        return str(h.hexdigest()), size
    while chunk := source.read(CHUNK_SIZE):
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidArgument(
                f"stream {source!r} yields {type(chunk).__name__}, expected bytes",
                hint="open the file in binary mode ('rb'), or pass bytes to put_bytes",
            )
        h.update(chunk)
        if dest is not None:
            dest.write(chunk)
        size += len(chunk)
    return str(h.hexdigest()), size


class ArtifactStore:
    """Blobs named by their BLAKE3 digest under ``root`` on the fsspec filesystem ``fs``.

    ``url`` is the normalized root URL (``file:///abs/path`` or ``s3://bucket/prefix``).
    Build one with :func:`open_artifact_store`; the constructor only stores its arguments.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     open_artifact_store(folder).put_bytes(b"abc").size
    3
    """

    def __init__(self, url: str, fs: AbstractFileSystem, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- writing ----------------------------------------------------------------------------

    def put_file(self, path: str | Path) -> Blob:
        """Store the file at ``path`` (streamed, never read whole); return its :class:`Blob`.

        When a blob with the same digest exists nothing is written.
        """
        source = Path(path)
        try:
            fileobj = open(source, "rb")
        except FileNotFoundError as exc:
            raise NotFound(
                f"file {str(source)!r} does not exist", hint="check the path of the file to store"
            ) from exc
        except IsADirectoryError as exc:
            raise InvalidArgument(
                f"{str(source)!r} is a folder, expected a file",
                hint="store the files inside it one by one",
            ) from exc
        except OSError as exc:
            raise InvalidArgument(
                f"file {str(source)!r} cannot be read: {exc}", hint="check its permissions"
            ) from exc
        with fileobj:
            before = os.fstat(fileobj.fileno())
            digest, size = _copy_hashing(fileobj, None)
            if self.exists(digest):
                return Blob(digest, size)
            if self._is_local:
                fileobj.seek(0)
                return self._put_local_stream(fileobj)
        self._upload(source, digest)
        after = os.stat(source)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            with self._backend_errors(f"remove the half-stored blob {digest}"):
                self.fs.rm_file(self._object_path(digest))
            raise InvalidState(
                f"file {str(source)!r} changed while it was being stored in {self.url}",
                hint="store it again once nothing is writing to it",
            )
        return Blob(digest, size)

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; return its :class:`Blob`. Nothing is written when it exists."""
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise InvalidArgument(
                f"put_bytes expects bytes, got {type(data).__name__}",
                hint="encode text first, e.g. text.encode('utf-8')",
            )
        digest = digest_bytes(data)
        if self.exists(digest):
            return Blob(digest, len(data))
        if self._is_local:
            return self._put_local_stream(io.BytesIO(data))
        with self._backend_errors(f"upload blob {digest}"):
            self.fs.pipe_file(self._object_path(digest), data)
        return Blob(digest, len(data))

    def put_stream(self, fileobj: BinaryIO) -> Blob:
        """Store everything ``fileobj`` yields until its end; return its :class:`Blob`.

        The stream is spooled to a local temporary file while it is hashed, then stored.
        """
        if self._is_local:
            return self._put_local_stream(fileobj)
        fd, spool = tempfile.mkstemp(prefix="modelyard-put-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = _copy_hashing(fileobj, out)
            if not self.exists(digest):
                self._upload(Path(spool), digest)
            return Blob(digest, size)
        finally:
            _unlink_quietly(spool)

    # -- reading ----------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether a blob named ``digest`` is stored (its bytes are not read)."""
        path = self._object_path(digest)
        with self._backend_errors(f"look up blob {digest}"):
            try:
                info = self.fs.info(path)
            except FileNotFoundError:
                return False
        return bool(info.get("type") == "file")

    def size(self, digest: str) -> int:
        """Size in bytes of the blob ``digest``; NotFound when it is not stored."""
        path = self._object_path(digest)
        with self._backend_errors(f"look up blob {digest}"):
            try:
                info = self.fs.info(path)
            except FileNotFoundError as exc:
                raise self._not_found(digest) from exc
        if info.get("type") != "file":
            raise self._not_found(digest)
        return int(info["size"])

    def open(self, digest: str) -> BinaryIO:
        """A sequential reader of blob ``digest`` that verifies the bytes as they are read.

        It raises IntegrityError from the read that reaches the end of damaged bytes, and
        cannot seek. NotFound when the blob is not stored.
        """
        path = self._object_path(digest)
        with self._backend_errors(f"open blob {digest}"):
            try:
                fileobj = self.fs.open(path, "rb", **self._read_options())
            except (FileNotFoundError, IsADirectoryError) as exc:
                raise self._not_found(digest) from exc
        from modelyard.artifacts.reader import VerifiedReader

        size = getattr(fileobj, "size", None)
        raw = VerifiedReader(
            fileobj,
            digest,
            size if isinstance(size, int) else None,
            url=self.url,
            errors=self._error_types(),
        )
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=CHUNK_SIZE))

    def get_bytes(self, digest: str) -> bytes:
        """The verified bytes of blob ``digest``."""
        with self.open(digest) as reader:
            return reader.read()

    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Write blob ``digest`` to ``dest``, verified, and return ``dest`` as a Path.

        The bytes stream into a temporary file beside ``dest`` that is renamed over ``dest``
        only once verified: after an IntegrityError there is no ``dest`` file.
        """
        return save_verified(self.open, digest, dest)

    def delete(self, digest: str) -> None:
        """Remove blob ``digest`` (for garbage collection); NotFound when it is not stored."""
        if not self.exists(digest):
            raise self._not_found(digest)
        with self._backend_errors(f"delete blob {digest}"):
            try:
                self.fs.rm_file(self._object_path(digest))
            except FileNotFoundError as exc:
                raise self._not_found(digest) from exc

    # -- internals --------------------------------------------------------------------------

    @property
    def _is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def _object_path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/objects/{digest[:2]}/{digest[2:4]}/{digest}"

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(
            f"artifact store {self.url} has no blob {digest}",
            hint="check the digest; a blob that no run references may have been garbage-collected",
        )

    def _error_types(self) -> tuple[type[BaseException], ...]:
        botocore_exceptions = sys.modules.get("botocore.exceptions")
        if botocore_exceptions is None:
            return (OSError,)
        return (OSError, botocore_exceptions.BotoCoreError, botocore_exceptions.ClientError)

    @contextmanager
    def _backend_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except self._error_types() as exc:
            raise BackendError(
                f"artifact store {self.url}: could not {action}: {type(exc).__name__}: {exc}",
                hint="check that the store is reachable and writable and that its credentials "
                "are right (for s3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL; "
                "the bucket must exist)",
            ) from exc

    def _read_options(self) -> dict[str, Any]:
        if "s3" in _protocols(self.fs):
            return {"block_size": _S3_READ_BLOCK, "cache_type": "readahead"}
        return {}

    def _put_local_stream(self, source: Any) -> Blob:
        with self._backend_errors("store a blob"):
            tmp_dir = os.path.join(self.root, "tmp")
            os.makedirs(tmp_dir, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=tmp_dir, prefix="put-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    digest, size = _copy_hashing(source, out)
                    out.flush()
                    os.fsync(out.fileno())
                target = self._object_path(digest)
                if not os.path.exists(target):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.chmod(part, 0o444)
                    os.replace(part, target)
                    _fsync_dir(os.path.dirname(target))
            finally:
                _unlink_quietly(part)
        return Blob(digest, size)

    def _upload(self, source: Path, digest: str) -> None:
        options: dict[str, Any] = {}
        if "s3" in _protocols(self.fs):
            options = {"chunksize": _S3_PART_SIZE, "max_concurrency": _S3_PARTS_IN_FLIGHT}
        with self._backend_errors(f"upload blob {digest}"):
            self.fs.put_file(str(source), self._object_path(digest), **options)


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def open_artifact_store(url: str, **storage_options: Any) -> ArtifactStore:
    """Open the artifact store at ``url``: a folder path, ``file:///abs/path`` or ``s3://b/p``.

    A local folder is created on the first write. For S3, ``storage_options`` go to
    ``s3fs.S3FileSystem`` (``key``, ``secret``, ``endpoint_url``, ``client_kwargs``, ...);
    without them s3fs/botocore read ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` from the environment.

    >>> open_artifact_store("/tmp/yard").url
    'file:///tmp/yard'
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"artifact store URL {url!r} is empty", hint=_URL_HINT)
    match = _SCHEME_RE.match(url)
    if match is None:
        bare = _SCHEME_WITHOUT_SLASHES_RE.match(url)
        if bare is not None and bare.group(1).lower() in SUPPORTED_SCHEMES:
            raise ConfigError(
                f"artifact store URL {url!r} lacks '//' after '{bare.group(1)}:'",
                hint=_URL_HINT,
            )
        return _open_local(url, storage_options)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _open_local(_file_url_path(url), storage_options)
    if scheme == "s3":
        return _open_s3(url, storage_options)
    raise ConfigError(
        f"artifact store URL {url!r} has the unsupported scheme {scheme!r}; supported: "
        + ", ".join(f"{name}://" for name in SUPPORTED_SCHEMES)
        + " or a plain folder path",
        hint=_URL_HINT,
    )


def _file_url_path(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(
            f"artifact store URL {url!r} names the host {parts.netloc!r}; a file:// URL must "
            "be absolute, like file:///absolute/path",
            hint="set MODELYARD_ARTIFACT_URL to file:///absolute/path, or to a plain folder "
            "path (relative paths are fine there)",
        )
    path = unquote(parts.path)
    if re.match(r"^/[A-Za-z]:", path):  # file:///C:/x on Windows
        path = path[1:]
    if not path:
        raise ConfigError(f"artifact store URL {url!r} names no folder", hint=_URL_HINT)
    return path


def _open_local(path: str, storage_options: dict[str, Any]) -> ArtifactStore:
    if storage_options:
        raise ConfigError(
            f"storage options {sorted(storage_options)} apply to s3:// artifact stores only, "
            f"not to the local folder {path!r}",
            hint="drop the storage options, or use an s3:// URL",
        )
    from fsspec.implementations.local import LocalFileSystem

    root = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(root) and not os.path.isdir(root):
        raise ConfigError(
            f"artifact store folder {root!r} exists and is not a folder", hint=_URL_HINT
        )
    return ArtifactStore(Path(root).as_uri(), LocalFileSystem(), root)


def _open_s3(url: str, storage_options: dict[str, Any]) -> ArtifactStore:
    parts = urlsplit(url)
    bucket = parts.netloc
    prefix = "/".join(segment for segment in parts.path.split("/") if segment)
    if not bucket:
        raise ConfigError(f"artifact store URL {url!r} names no bucket", hint=_URL_HINT)
    if parts.query or parts.fragment:
        raise ConfigError(
            f"artifact store URL {url!r} has a query or fragment; pass options as keyword "
            "arguments (storage options) instead",
            hint=_URL_HINT,
        )
    try:
        from s3fs import S3FileSystem
    except ImportError as exc:
        raise ConfigError(
            f"artifact store {url} needs s3fs, which is not installed: {_INSTALL_S3}",
            hint=_INSTALL_S3,
        ) from exc
    options = dict(storage_options)
    # A listing cache could answer "exists" from stale data and skip a needed upload.
    options.setdefault("use_listings_cache", False)
    fs = S3FileSystem(**options)
    root = f"{bucket}/{prefix}" if prefix else bucket
    return ArtifactStore(f"s3://{root}", fs, root)
