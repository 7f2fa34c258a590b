"""The stat cache: unchanged files are not read again; processes can share one cache file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard._digest import digest_bytes
from modelyard.data import StatCache, describe_dataset, digest_path
from modelyard.errors import BackendError

SRC = Path(__file__).resolve().parents[2] / "src"


def _rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Change the bytes in place (same inode, same size) and put the old mtime back."""
    st = path.stat()
    assert len(data) == st.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_init_only_stores_its_argument(tmp_path):
    cache = StatCache(tmp_path / "sub" / "cache.sqlite")
    assert cache.path == tmp_path / "sub" / "cache.sqlite"
    assert not (tmp_path / "sub").exists()
    assert "cache.sqlite" in repr(cache)


def test_lookup_matches_path_size_mtime_and_inode(tmp_path, backdate):
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello")
    backdate(path)
    cache = StatCache(tmp_path / "cache.sqlite")
    st = path.stat()
    assert cache.lookup(path, st) is None
    cache.store(path, st, "d" * 64)
    assert cache.lookup(path, st) == "d" * 64
    assert cache.lookup(tmp_path / "other.txt", st) is None
    fields = list(st)
    for index in (6, 1):  # st_size, st_ino
        changed = list(fields)
        changed[index] += 1
        assert cache.lookup(path, os.stat_result(changed)) is None
    backdate(path, ns=st.st_mtime_ns + 1)
    assert cache.lookup(path, path.stat()) is None
    cache.close()
    assert cache.lookup(path, st) == "d" * 64  # reopens, persisted


def test_recently_modified_files_are_not_remembered(tmp_path):
    path = tmp_path / "fresh.txt"
    path.write_bytes(b"just written")
    cache = StatCache(tmp_path / "cache.sqlite")
    cache.store(path, path.stat(), "e" * 64)
    assert cache.lookup(path, path.stat()) is None


def test_unchanged_file_is_not_read_again(tmp_path, backdate):
    path = tmp_path / "data.bin"
    path.write_bytes(b"A" * 1000)
    backdate(path)
    cache = StatCache(tmp_path / "cache.sqlite")
    first = digest_path(path, stat_cache=cache)[0]
    assert first == digest_bytes(b"A" * 1000)
    # Same inode, size and mtime but different bytes: only a cache hit can return the old digest.
    _rewrite_keeping_stat(path, b"B" * 1000)
    assert digest_path(path, stat_cache=cache)[0] == first
    assert digest_path(path)[0] == digest_bytes(b"B" * 1000)  # without the cache: re-read
    assert describe_dataset(path, stat_cache=cache).digest == first


def test_replaced_file_is_a_miss(tmp_path, backdate):
    path = tmp_path / "data.bin"
    path.write_bytes(b"A" * 100)
    backdate(path)
    cache = StatCache(tmp_path / "cache.sqlite")
    digest_path(path, stat_cache=cache)
    old = path.stat()
    replacement = tmp_path / "tmp.bin"
    replacement.write_bytes(b"C" * 100)
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, path)  # atomic save: new inode, same size and mtime
    assert path.stat().st_ino != old.st_ino
    assert digest_path(path, stat_cache=cache)[0] == digest_bytes(b"C" * 100)


def test_one_changed_file_in_a_1000_file_folder_rehashes_only_it(tmp_path, write_folder):
    files = {
        f"part-{i // 100:02d}/file-{i:04d}.txt": f"row {i:04d}\n".encode() for i in range(1000)
    }
    root = write_folder(tmp_path / "ds", files)
    cache = StatCache(tmp_path / "cache.sqlite")
    digest, _, manifest = digest_path(root, stat_cache=cache)
    assert len(manifest) == 1000
    assert digest_path(root, stat_cache=cache)[0] == digest
    # Five files change behind the cache's back (stat kept): they must NOT be re-read ...
    sneaky = [f"part-{i // 100:02d}/file-{i:04d}.txt" for i in (0, 250, 500, 750, 999)]
    for rel in sneaky:
        _rewrite_keeping_stat(root / rel, b"XXXXXXXX\n")
    # ... while one file really changes (new mtime): only it is re-read.
    (root / "part-04/file-0400.txt").write_bytes(b"changed!\n")
    new_digest, _, new_manifest = digest_path(root, stat_cache=cache)
    assert new_digest != digest
    changed = [new["path"] for old, new in zip(manifest, new_manifest, strict=True) if old != new]
    assert changed == ["part-04/file-0400.txt"]
    # A fresh hash without the cache sees all six changes.
    uncached = digest_path(root)[2]
    assert sum(old != new for old, new in zip(manifest, uncached, strict=True)) == 6


def test_threads_can_share_one_cache(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {f"f{i}.txt": str(i).encode() for i in range(50)})
    cache = StatCache(tmp_path / "cache.sqlite")
    with ThreadPoolExecutor(4) as pool:
        digests = set(pool.map(lambda _: digest_path(root, stat_cache=cache)[0], range(8)))
    assert len(digests) == 1


def test_processes_can_share_one_cache_file(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {f"f{i:03d}.txt": str(i).encode() for i in range(300)})
    cache_file = tmp_path / "shared" / "cache.sqlite"
    script = textwrap.dedent(
        f"""
        from modelyard.data import StatCache, digest_path
        cache = StatCache({str(cache_file)!r})
        for _ in range(3):
            print(digest_path({str(root)!r}, stat_cache=cache)[0])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert len({line for out, _ in outputs for line in out.split()}) == 1
    expected = digest_path(root)[0]
    assert outputs[0][0].split()[0] == expected


def test_unusable_cache_file_raises_backend_error(tmp_path, backdate):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a sqlite database, just some text" * 100)
    path = tmp_path / "f.txt"
    path.write_bytes(b"x")
    backdate(path)
    with pytest.raises(BackendError, match="stat cache") as exc:
        digest_path(path, stat_cache=StatCache(bad))
    assert "delete the file" in (exc.value.hint or "")
