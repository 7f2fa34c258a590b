"""The behaviour every artifact backend shares, run on a local folder and on real S3."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from modelyard._digest import digest_bytes
from modelyard.artifacts import ArtifactStore, Blob
from modelyard.errors import IntegrityError, InvalidArgument, NotFound

MISSING = "0" * 64


def _object_path(store: ArtifactStore, digest: str) -> str:
    return f"{store.root}/objects/{digest[:2]}/{digest[2:4]}/{digest}"


class _ReadOnlyStream:
    """A stream with nothing but ``read``: not seekable, no ``readinto``."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._offset = 0
        self._step = step

    def read(self, size: int = -1) -> bytes:
        size = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._offset : self._offset + size]
        self._offset += len(chunk)
        return chunk


def test_put_bytes_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"model weights " * 1000
    blob = store.put_bytes(data)
    assert blob == Blob(digest_bytes(data), len(data))
    assert store.exists(blob.digest)
    assert store.size(blob.digest) == len(data)
    assert store.get_bytes(blob.digest) == data
    with store.open(blob.digest) as reader:
        assert reader.read(5) == b"model"
        assert reader.read() == data[5:]
    dest = store.get_file(blob.digest, tmp_path / "out" / "deep" / "weights.bin")
    assert dest == tmp_path / "out" / "deep" / "weights.bin"
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["weights.bin"]


def test_put_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    blob = store.put_file(source)
    assert blob == Blob(digest_bytes(data), len(data))
    assert store.put_file(str(source)) == blob
    dest = store.get_file(blob.digest, str(tmp_path / "copy.bin"))
    assert dest.read_bytes() == data


@pytest.mark.parametrize("kind", ["bytesio", "read-only"])
def test_put_stream_round_trip(store: ArtifactStore, kind: str) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    stream = io.BytesIO(data) if kind == "bytesio" else _ReadOnlyStream(data, step=300_000)
    blob = store.put_stream(stream)  # type: ignore[arg-type]
    assert blob == Blob(digest_bytes(data), len(data))
    assert store.get_bytes(blob.digest) == data


def test_empty_blob(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"")
    assert blob.size == 0
    assert store.get_bytes(blob.digest) == b""
    assert store.get_file(blob.digest, tmp_path / "empty").read_bytes() == b""


def test_layout_is_objects_fanned_out_by_digest(store: ArtifactStore, list_objects) -> None:
    blob = store.put_bytes(b"layout")
    d = blob.digest
    assert list_objects(store) == [f"{store.root}/objects/{d[0:2]}/{d[2:4]}/{d}"]


def test_reader_is_sequential_and_reads_lines(store: ArtifactStore) -> None:
    data = b"".join(b"line %d\n" % i for i in range(10_000))
    blob = store.put_bytes(data)
    with store.open(blob.digest) as reader:
        assert reader.readable()
        assert not reader.seekable()
        assert reader.readline() == b"line 0\n"
        assert reader.tell() == len(b"line 0\n")
        assert b"".join(reader) == data[len(b"line 0\n") :]


def test_closing_a_reader_early_is_fine(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"x" * 100_000)
    with store.open(blob.digest) as reader:
        assert reader.read(10) == b"x" * 10


def test_dedupe_writes_once(
    store: ArtifactStore, tmp_path: Path, overwrite_object, list_objects
) -> None:
    data = b"the same bytes, stored once"
    first = store.put_bytes(data)
    # Mark the stored object: a second write of the same content would erase the mark.
    marked = b"X" * len(data)
    overwrite_object(store, first.digest, marked)
    source = tmp_path / "same.txt"
    source.write_bytes(data)
    assert store.put_bytes(data) == first
    assert store.put_file(source) == first
    assert store.put_stream(io.BytesIO(data)) == first
    assert list_objects(store) == [_object_path(store, first.digest)]
    assert store.fs.cat_file(_object_path(store, first.digest)) == marked


@pytest.mark.parametrize("damage", ["same-size", "truncated", "extended", "emptied"])
def test_tampered_object_is_refused(
    store: ArtifactStore, tmp_path: Path, overwrite_object, damage: str
) -> None:
    data = os.urandom(300_000)
    blob = store.put_bytes(data)
    damaged = {
        "same-size": data[:1000] + bytes([data[1000] ^ 1]) + data[1001:],
        "truncated": data[:-1],
        "extended": data + b"!",
        "emptied": b"",
    }[damage]
    overwrite_object(store, blob.digest, damaged)

    with pytest.raises(IntegrityError, match=blob.digest), store.open(blob.digest) as reader:
        reader.read()
    with pytest.raises(IntegrityError, match="is damaged"):
        store.get_bytes(blob.digest)
    with pytest.raises(IntegrityError), store.open(blob.digest) as reader:
        while reader.read(4096):
            pass
    dest = tmp_path / "dl" / "model.bin"
    with pytest.raises(IntegrityError):
        store.get_file(blob.digest, dest)
    assert not dest.exists()
    assert os.listdir(dest.parent) == []


def test_tampered_object_does_not_replace_existing_dest(
    store: ArtifactStore, tmp_path: Path, overwrite_object
) -> None:
    blob = store.put_bytes(b"good bytes")
    overwrite_object(store, blob.digest, b"evil bytes")
    dest = tmp_path / "dl" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous version")
    with pytest.raises(IntegrityError):
        store.get_file(blob.digest, dest)
    assert dest.read_bytes() == b"previous version"
    assert os.listdir(dest.parent) == ["model.bin"]


def test_get_file_replaces_existing_dest(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"new version")
    dest = tmp_path / "model.bin"
    dest.write_bytes(b"old version, longer than the new one")
    assert store.get_file(blob.digest, dest).read_bytes() == b"new version"


@pytest.mark.parametrize("method", ["size", "open", "get_bytes", "get_file", "delete"])
def test_missing_digest_is_not_found(store: ArtifactStore, tmp_path: Path, method: str) -> None:
    dest = tmp_path / "out.bin"
    calls = {
        "size": lambda: store.size(MISSING),
        "open": lambda: store.open(MISSING),
        "get_bytes": lambda: store.get_bytes(MISSING),
        "get_file": lambda: store.get_file(MISSING, dest),
        "delete": lambda: store.delete(MISSING),
    }
    with pytest.raises(NotFound, match=f"has no blob {MISSING}") as caught:
        calls[method]()
    assert store.url in str(caught.value)
    assert caught.value.hint
    assert not store.exists(MISSING)
    assert not dest.exists()


BAD_DIGESTS = [
    "",
    "abc",
    "0" * 63,
    "0" * 65,
    "A" * 64,
    "g" * 64,
    "../" * 21 + "x",
    "00/00/" + "0" * 58,
    " " + "0" * 63,
    "0" * 64 + "\n",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
@pytest.mark.parametrize("method", ["exists", "size", "open", "get_bytes", "get_file", "delete"])
def test_bad_digest_is_invalid_argument(
    store: ArtifactStore, tmp_path: Path, method: str, digest: str
) -> None:
    calls = {
        "exists": lambda: store.exists(digest),
        "size": lambda: store.size(digest),
        "open": lambda: store.open(digest),
        "get_bytes": lambda: store.get_bytes(digest),
        "get_file": lambda: store.get_file(digest, tmp_path / "out.bin"),
        "delete": lambda: store.delete(digest),
    }
    with pytest.raises(InvalidArgument, match="is not a blob digest: expected 64 lowercase hex"):
        calls[method]()
    assert not (tmp_path / "out.bin").exists()


def test_delete(store: ArtifactStore, list_objects) -> None:
    blob = store.put_bytes(b"to be collected")
    store.delete(blob.digest)
    assert not store.exists(blob.digest)
    assert list_objects(store) == []
    with pytest.raises(NotFound):
        store.delete(blob.digest)
    assert store.put_bytes(b"to be collected") == blob
    assert store.get_bytes(blob.digest) == b"to be collected"


def test_put_bytes_accepts_bytes_like_and_refuses_text(store: ArtifactStore) -> None:
    assert store.put_bytes(bytearray(b"abc")).digest == digest_bytes(b"abc")
    assert store.put_bytes(memoryview(b"abcd")).digest == digest_bytes(b"abcd")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="expects bytes, got str"):
        store.put_bytes("text")  # type: ignore[arg-type]


def test_put_stream_refuses_text_streams(store: ArtifactStore) -> None:
    with pytest.raises(InvalidArgument, match="yields str, expected bytes"):
        store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]


def test_put_file_refuses_missing_files_and_folders(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        store.put_file(tmp_path / "nope.bin")
    with pytest.raises(InvalidArgument, match="is a folder"):
        store.put_file(tmp_path)
