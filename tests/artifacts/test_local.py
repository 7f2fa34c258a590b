"""The local-folder backend and open_artifact_store's URL handling."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard._digest import digest_file
from modelyard.artifacts import ArtifactStore, open_artifact_store
from modelyard.errors import BackendError, ConfigError, InvalidArgument

MIB = 1024 * 1024


def _object_path(store: ArtifactStore, digest: str) -> Path:
    return Path(store.root) / "objects" / digest[:2] / digest[2:4] / digest


def _write_big_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for i in range(size // MIB):
            out.write(i.to_bytes(8, "little") + block[8:])


def test_big_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    size = 64 * MIB
    source = tmp_path / "big.bin"
    _write_big_file(source, size)
    store = open_artifact_store(str(tmp_path / "store"))

    tracemalloc.start()
    try:
        started = time.perf_counter()
        blob = store.put_file(source)
        put_seconds = time.perf_counter() - started
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        dest = store.get_file(blob.digest, tmp_path / "out" / "big.bin")
        get_seconds = time.perf_counter() - started
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert blob.size == size
    assert digest_file(dest) == (blob.digest, size)
    assert put_peak < 8 * MIB, f"put_file peaked at {put_peak / MIB:.1f} MiB"
    assert get_peak < 8 * MIB, f"get_file peaked at {get_peak / MIB:.1f} MiB"
    print(f"64 MiB put {put_seconds:.2f} s, get {get_seconds:.2f} s")


def test_folder_is_created_on_first_write(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "store"
    store = open_artifact_store(str(root))
    assert not root.exists()
    assert not store.exists("0" * 64)
    assert not root.exists()
    store.put_bytes(b"x")
    assert sorted(p.name for p in root.iterdir()) == ["objects", "tmp"]


def test_objects_are_read_only_and_tmp_is_left_empty(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    source = tmp_path / "f.bin"
    source.write_bytes(b"file")
    blobs = [store.put_bytes(b"bytes"), store.put_file(source), store.put_bytes(b"bytes")]
    for blob in blobs:
        mode = stat.S_IMODE(_object_path(store, blob.digest).stat().st_mode)
        assert mode & 0o222 == 0, oct(mode)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_dedupe_keeps_the_first_object_untouched(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    blob = store.put_bytes(b"same")
    before = _object_path(store, blob.digest).stat()
    time.sleep(0.01)
    source = tmp_path / "same.txt"
    source.write_bytes(b"same")
    store.put_file(source)
    store.put_bytes(b"same")
    after = _object_path(store, blob.digest).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_concurrent_writers_of_the_same_content(tmp_path: Path) -> None:
    data = os.urandom(4 * MIB)
    stores = [open_artifact_store(str(tmp_path / "store")) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        blobs = list(pool.map(lambda s: s.put_bytes(data), stores * 3))
    assert len(set(blobs)) == 1
    assert stores[0].get_bytes(blobs[0].digest) == data
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert len([p for p in (tmp_path / "store" / "objects").rglob("*") if p.is_file()]) == 1


def test_get_file_refuses_a_folder_as_dest(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    blob = store.put_bytes(b"x")
    with pytest.raises(InvalidArgument, match="is a folder, expected a file path"):
        store.get_file(blob.digest, tmp_path)


def test_unwritable_root_is_a_backend_error_naming_the_url(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = open_artifact_store(str(tmp_path / "file" / "store"))
    with pytest.raises(BackendError, match="Not a directory") as caught:
        store.put_bytes(b"x")
    assert store.url in caught.value.message
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


# -- open_artifact_store ------------------------------------------------------------------


def test_plain_relative_path_becomes_an_absolute_file_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_artifact_store("artifacts")
    assert store.url == (tmp_path / "artifacts").as_uri()
    assert store.root == str(tmp_path / "artifacts")


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert open_artifact_store("~/yard").root == str(tmp_path / "yard")


@pytest.mark.parametrize("form", ["file://{}", "file://localhost{}", "{}", "{}/"])
def test_file_urls_and_paths_normalize_alike(tmp_path: Path, form: str) -> None:
    root = tmp_path / "my store"
    url = form.format(root.as_uri()[len("file://") :] if form.startswith("file") else root)
    store = open_artifact_store(url)
    assert store.url == root.as_uri()
    assert store.url.startswith("file:///") and "%20" in store.url
    assert store.root == str(root)
    blob = store.put_bytes(b"spaces are fine")
    assert (root / "objects" / blob.digest[:2] / blob.digest[2:4] / blob.digest).is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("gs://bucket/x", "unsupported scheme 'gs'; supported: file://, s3:// or a plain folder"),
        ("http://host/x", "unsupported scheme 'http'"),
        ("s3:bucket/x", "lacks '//' after 's3:'"),
        ("file://host/x", "names the host 'host'"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/x?region=eu", "has a query or fragment"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="artifact store URL") as caught:
        open_artifact_store(url)
    assert message in caught.value.message
    assert caught.value.hint and "MODELYARD_ARTIFACT_URL" in caught.value.hint


def test_a_file_as_root_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        open_artifact_store(str(tmp_path / "f"))


def test_storage_options_are_refused_for_local_folders(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage options \['key'\] apply to s3:// .* only"):
        open_artifact_store(str(tmp_path), key="abc")


def test_s3_url_is_normalized_without_connecting() -> None:
    store = open_artifact_store(
        "s3://bucket//runs/prefix/", key="k", secret="s", endpoint_url="http://127.0.0.1:9"
    )
    assert store.url == "s3://bucket/runs/prefix"
    assert store.root == "bucket/runs/prefix"
    assert open_artifact_store("s3://bucket", key="k", secret="s").url == "s3://bucket"


def test_missing_s3fs_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what `import s3fs` sees when missing
    with pytest.raises(ConfigError) as caught:
        open_artifact_store("s3://bucket/prefix")
    assert "pip install 'modelyard[s3]'" in caught.value.message
    assert caught.value.hint == "pip install 'modelyard[s3]'"


def test_importing_artifacts_is_light() -> None:
    code = (
        "import sys, modelyard.artifacts\n"
        "heavy = [m for m in ('fsspec', 's3fs', 'botocore', 'blake3', 'numpy') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"
