"""Digests of files and folders: streaming BLAKE3 and the folder's Merkle manifest.

A file's digest is BLAKE3 over its bytes, read in 1 MiB chunks. A folder's digest is BLAKE3
over its *manifest*: one line per file (``<digest> <size> <relpath as a JSON string>``) sorted
by the POSIX relative path, after a ``modelyard-folder-v1`` header line. So a folder's identity
depends only on the relative paths and contents of its files, never on timestamps, permissions
or the folder's location, and one changed file changes one leaf. With a :class:`StatCache`, a
file whose (path, size, mtime_ns, inode) is unchanged is not read again.

Nothing is skipped: hidden files count like any other. Empty folders hold no file, so they do
not appear in the manifest. A symlink is followed when its target lies inside the folder (the
link's own path is listed); a symlink pointing outside the folder, a broken symlink, a symlink
cycle and special files (FIFOs, sockets, devices) are refused with :class:`InvalidArgument`,
since the digest would otherwise depend on, or silently leave out, bytes that are not the folder's.

>>> digest, size, manifest = digest_path("data/train.csv")           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import stat as stat_mod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard._digest import digest_file, hasher
from modelyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from modelyard.data.stat_cache import StatCache

__all__ = ["FOLDER_HEADER", "digest_path", "manifest_digest"]

FOLDER_HEADER = b"modelyard-folder-v1\n"


def digest_path(
    path: str | os.PathLike[str], *, stat_cache: StatCache | None = None
) -> tuple[str, int, list[dict[str, Any]] | None]:
    """Digest, total size and (for a folder) the manifest of the file or folder at ``path``.

    >>> digest, size, manifest = digest_path("data/images", stat_cache=cache)  # doctest: +SKIP
    >>> manifest[0]                                                         # doctest: +SKIP
    {'path': 'cat/001.png', 'digest': '9f2c...', 'size': 18213}
    """
    target = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    try:
        st = os.stat(target)
    except FileNotFoundError as exc:
        raise NotFound(
            f"dataset path '{target}' does not exist",
            hint="check the path, or log the data as a DataFrame or array instead",
        ) from exc
    except OSError as exc:
        raise InvalidArgument(
            f"dataset path '{target}' cannot be read: {exc.strerror}",
            hint="check the path and its permissions",
        ) from exc
    if stat_mod.S_ISDIR(st.st_mode):
        manifest = _folder_manifest(target, stat_cache)
        size = sum(int(entry["size"]) for entry in manifest)
        return manifest_digest(manifest), size, manifest
    if stat_mod.S_ISREG(st.st_mode):
        digest, size = _digest_one(target, st, stat_cache)
        return digest, size, None
    raise InvalidArgument(
        f"dataset path '{target}' is neither a regular file nor a folder",
        hint="log a regular file or a folder (FIFOs, sockets and devices cannot be digested)",
    )


def manifest_digest(manifest: list[dict[str, Any]]) -> str:
    """The folder digest of ``manifest`` (a list of ``{"path", "digest", "size"}``).

    The entries are sorted by path here, so the caller's order does not matter.
    """
    h = hasher()
    h.update(FOLDER_HEADER)
    for entry in sorted(manifest, key=lambda e: str(e["path"])):
        line = f"{entry['digest']} {int(entry['size'])} {json.dumps(str(entry['path']))}\n"
        h.update(line.encode("ascii"))
    return str(h.hexdigest())


def _digest_one(file: Path, st: os.stat_result, stat_cache: StatCache | None) -> tuple[str, int]:
    if stat_cache is not None:
        cached = stat_cache.lookup(file, st)
        if cached is not None:
            return cached, st.st_size
    try:
        digest, size = digest_file(file)
        after = os.stat(file)
    except OSError as exc:
        raise InvalidArgument(
            f"file '{file}' cannot be read: {exc.strerror}",
            hint="check that the file exists and is readable",
        ) from exc
    unchanged = (after.st_size, after.st_mtime_ns, after.st_ino) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )
    # Only remember a digest when the file did not change while it was being read.
    if stat_cache is not None and unchanged and size == st.st_size:
        stat_cache.store(file, st, digest)
    return digest, size


def _folder_manifest(root: Path, stat_cache: StatCache | None) -> list[dict[str, Any]]:
    root_real = os.path.realpath(root)
    files: list[tuple[str, Path]] = []
    _collect(root, "", root_real, frozenset({root_real}), files)
    manifest: list[dict[str, Any]] = []
    for relpath, file in sorted(files, key=lambda item: item[0]):
        try:
            st = os.stat(file)
        except OSError as exc:
            raise InvalidArgument(
                f"file '{file}' in folder '{root}' cannot be read: {exc.strerror}",
                hint="check that the folder is not being modified while it is logged",
            ) from exc
        digest, size = _digest_one(file, st, stat_cache)
        manifest.append({"path": relpath, "digest": digest, "size": size})
    return manifest


def _collect(
    folder: Path,
    prefix: str,
    root_real: str,
    ancestors: frozenset[str],
    out: list[tuple[str, Path]],
) -> None:
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError as exc:
        raise InvalidArgument(
            f"folder '{folder}' cannot be listed: {exc.strerror}",
            hint="check the folder's permissions",
        ) from exc
    for entry in entries:
        relpath = prefix + entry.name
        full = Path(entry.path)
        if entry.is_symlink():
            real = os.path.realpath(full)
            if os.path.commonpath([root_real, real]) != root_real:
                raise InvalidArgument(
                    f"symlink '{full}' points outside the folder being logged (to '{real}')",
                    hint="copy the target into the folder, or log the target separately",
                )
            if os.path.isdir(real):
                if real in ancestors:
                    raise InvalidArgument(
                        f"symlink '{full}' makes a cycle: it points to '{real}', which contains it",
                        hint="remove the symlink, or log a folder without cycles",
                    )
                _collect(full, relpath + "/", root_real, ancestors | {real}, out)
            elif os.path.isfile(real):
                out.append((relpath, full))
            elif not os.path.exists(real):
                raise InvalidArgument(
                    f"symlink '{full}' is broken (its target '{real}' does not exist)",
                    hint="remove the symlink or restore its target",
                )
            else:
                raise _special(full)
        elif entry.is_dir(follow_symlinks=False):
            real = os.path.realpath(full)
            _collect(full, relpath + "/", root_real, ancestors | {real}, out)
        elif entry.is_file(follow_symlinks=False):
            out.append((relpath, full))
        else:
            raise _special(full)


def _special(path: Path) -> InvalidArgument:
    return InvalidArgument(
        f"'{path}' is not a regular file, folder or symlink (FIFO, socket or device)",
        hint="move special files out of the dataset folder",
    )
