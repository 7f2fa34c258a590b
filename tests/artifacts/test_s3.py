"""The S3 backend against a real SeaweedFS server: configuration, failures, big uploads."""

from __future__ import annotations

import os
import socket
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from modelyard._digest import digest_file
from modelyard.artifacts import open_artifact_store
from modelyard.errors import BackendError, InvalidState

pytestmark = pytest.mark.s3

MIB = 1024 * 1024


@pytest.fixture
def fresh_s3fs_instances():
    """Forget cached s3fs clients, so a test sees the environment it sets."""
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()
    yield
    S3FileSystem.clear_instance_cache()


@pytest.mark.parametrize("endpoint_var", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_credentials_and_endpoint_from_aws_env_vars(
    s3_server, monkeypatch: pytest.MonkeyPatch, fresh_s3fs_instances, endpoint_var: str
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    monkeypatch.setenv(endpoint_var, s3_server.endpoint)
    store = open_artifact_store(f"s3://{s3_server.bucket}/{uuid.uuid4().hex}")
    blob = store.put_bytes(b"configured from the environment")
    assert store.get_bytes(blob.digest) == b"configured from the environment"


def test_wrong_secret_is_a_backend_error_naming_the_url(s3_server) -> None:
    options = {**s3_server.storage_options(), "secret": "wrong"}
    store = open_artifact_store(f"s3://{s3_server.bucket}/x", **options)
    with pytest.raises(BackendError) as caught:
        store.put_bytes(b"x")
    assert f"artifact store s3://{s3_server.bucket}/x: could not" in caught.value.message
    assert caught.value.hint and "AWS_ACCESS_KEY_ID" in caught.value.hint


def test_unreachable_endpoint_is_a_backend_error(s3_server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    store = open_artifact_store(
        "s3://bucket/prefix",
        key="k",
        secret="s",
        endpoint_url=f"http://127.0.0.1:{port}",
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2},
    )
    started = time.monotonic()
    with pytest.raises(BackendError, match="artifact store s3://bucket/prefix: could not"):
        store.exists("0" * 64)
    assert time.monotonic() - started < 30


def test_big_file_goes_up_in_parts_with_bounded_memory(s3_server, tmp_path: Path) -> None:
    size = 64 * MIB  # above the single-request limit of 16 MiB: a multipart upload
    source = tmp_path / "big.bin"
    block = os.urandom(MIB)
    with open(source, "wb") as out:
        for i in range(size // MIB):
            out.write(i.to_bytes(8, "little") + block[8:])
    store = open_artifact_store(
        f"s3://{s3_server.bucket}/{uuid.uuid4().hex}", **s3_server.storage_options()
    )
    store.get_bytes(store.put_bytes(b"warm up the client").digest)  # one-time allocations
    tracemalloc.start()
    try:
        started = time.perf_counter()
        blob = store.put_file(source)
        put_seconds = time.perf_counter() - started
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        dest = store.get_file(blob.digest, tmp_path / "out.bin")
        get_seconds = time.perf_counter() - started
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest_file(dest) == (blob.digest, size)
    assert store.size(blob.digest) == size
    print(
        f"64 MiB to S3 in {put_seconds:.2f} s (peak {put_peak / MIB:.0f} MiB), "
        f"back in {get_seconds:.2f} s (peak {get_peak / MIB:.0f} MiB)"
    )
    assert put_peak < 48 * MIB, f"put_file peaked at {put_peak / MIB:.1f} MiB"
    assert get_peak < 48 * MIB, f"get_file peaked at {get_peak / MIB:.1f} MiB"


def test_file_changing_during_upload_is_refused(s3_server, tmp_path: Path, list_objects) -> None:
    source = tmp_path / "growing.bin"
    source.write_bytes(os.urandom(20 * MIB))
    store = open_artifact_store(
        f"s3://{s3_server.bucket}/{uuid.uuid4().hex}", **s3_server.storage_options()
    )
    done = threading.Event()

    def touch() -> None:  # a writer that keeps updating the file's mtime
        tick = 0
        while not done.is_set():
            tick += 1
            os.utime(source, ns=(tick * 1_000_000, tick * 1_000_000))
            time.sleep(0.001)

    toucher = threading.Thread(target=touch)
    toucher.start()
    try:
        with pytest.raises(InvalidState, match="changed while it was being stored"):
            store.put_file(source)
    finally:
        done.set()
        toucher.join()
    assert list_objects(store) == []
