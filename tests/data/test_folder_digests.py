"""Digests of files and folders: streaming BLAKE3 and the Merkle manifest."""

from __future__ import annotations

import os
import shutil

import pytest

from modelyard._digest import DIGEST_RE, digest_bytes, digest_file
from modelyard.data import describe_dataset, digest_path
from modelyard.data.files import manifest_digest
from modelyard.errors import InvalidArgument, NotFound

FILES = {
    "b.txt": b"bravo",
    "a.csv": b"x,y\n1,2\n",
    "sub/deep/c.bin": bytes(range(256)) * 10,
    "sub/.hidden": b"dot files count too",
}


def test_file_digest_is_the_streaming_blake3_of_its_bytes(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    digest, size, manifest = digest_path(path)
    assert (digest, size) == digest_file(path)
    assert size == 3 * 1024 * 1024 + 17
    assert manifest is None
    assert digest_path(str(path))[0] == digest


def test_folder_manifest_is_sorted_posix_and_complete(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", FILES)
    digest, size, manifest = digest_path(root)
    assert DIGEST_RE.match(digest)
    assert [e["path"] for e in manifest] == ["a.csv", "b.txt", "sub/.hidden", "sub/deep/c.bin"]
    for entry in manifest:
        data = FILES[entry["path"]]
        assert entry == {"path": entry["path"], "digest": digest_bytes(data), "size": len(data)}
    assert size == sum(len(d) for d in FILES.values())
    assert manifest_digest(manifest) == digest
    assert manifest_digest(list(reversed(manifest))) == digest


def test_folder_digest_is_blake3_of_the_canonical_manifest_lines(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {"x y.txt": b"1", "é/n.txt": b"22"})
    digest, _, _ = digest_path(root)
    lines = [
        b"modelyard-folder-v1\n",
        f'{digest_bytes(b"1")} 1 "x y.txt"\n'.encode(),
        f'{digest_bytes(b"22")} 2 "\\u00e9/n.txt"\n'.encode(),
    ]
    assert digest == digest_bytes(b"".join(lines))


def test_folder_digest_ignores_location_mtime_and_empty_folders(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", FILES)
    digest = digest_path(root)[0]
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(root, copy)  # new mtimes, new inodes, new place
    (copy / "empty").mkdir()
    assert digest_path(copy)[0] == digest


def test_any_file_change_changes_the_folder_digest(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", FILES)
    digest, _, manifest = digest_path(root)
    (root / "b.txt").write_bytes(b"BRAVO")
    changed, _, changed_manifest = digest_path(root)
    assert changed != digest
    diff = [new for old, new in zip(manifest, changed_manifest, strict=True) if old != new]
    assert [e["path"] for e in diff] == ["b.txt"]
    (root / "b.txt").write_bytes(b"bravo")
    assert digest_path(root)[0] == digest
    (root / "b.txt").rename(root / "b2.txt")
    assert digest_path(root)[0] != digest
    (root / "b2.txt").rename(root / "b.txt")
    (root / "new").write_bytes(b"")
    assert digest_path(root)[0] != digest


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    digest, size, manifest = digest_path(tmp_path / "empty")
    assert (size, manifest) == (0, [])
    assert digest == digest_bytes(b"modelyard-folder-v1\n")


def test_symlinks_inside_the_folder_are_followed(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {"data/x.txt": b"x"})
    (root / "link.txt").symlink_to(root / "data" / "x.txt")
    (root / "alias").symlink_to("data", target_is_directory=True)
    _, size, manifest = digest_path(root)
    assert [e["path"] for e in manifest] == ["alias/x.txt", "data/x.txt", "link.txt"]
    assert len({e["digest"] for e in manifest}) == 1
    assert size == 3


def test_symlink_outside_the_folder_is_refused(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {"a.txt": b"a"})
    (tmp_path / "secret.txt").write_bytes(b"outside")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidArgument, match="points outside the folder") as exc:
        digest_path(root)
    assert "out.txt" in exc.value.message
    assert exc.value.hint


def test_broken_symlink_and_cycle_are_refused(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", {"a/b.txt": b"b"})
    (root / "gone.txt").symlink_to(root / "missing.txt")
    with pytest.raises(InvalidArgument, match="broken"):
        digest_path(root)
    (root / "gone.txt").unlink()
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="cycle"):
        digest_path(root)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidArgument, match="FIFO"):
        digest_path(tmp_path)
    with pytest.raises(InvalidArgument, match="neither a regular file nor a folder"):
        digest_path(tmp_path / "pipe")


def test_missing_path_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="does not exist") as exc:
        digest_path(tmp_path / "nope.csv")
    assert exc.value.hint
    with pytest.raises(NotFound):
        describe_dataset(tmp_path / "nope")


def test_describe_folder(tmp_path, write_folder):
    root = write_folder(tmp_path / "ds", FILES)
    info = describe_dataset(root)
    assert info.kind == "folder"
    assert info.source == str(root.absolute())
    assert info.manifest is not None and len(info.manifest) == 4
    assert (info.rows, info.columns, info.schema, info.profile) == (None, None, None, None)
    relative = os.path.relpath(root)
    assert describe_dataset(relative).source == str(root.absolute())
