"""The code of a run: git commit, branch, remote, dirty diff, untracked sources, entry point.

:func:`capture_code` asks ``git`` (at most three short subprocess calls: ``status``, ``remote
get-url`` and, only when the tree is dirty, ``diff``) what the work tree looks like, and returns
a frozen :class:`CodeInfo`. It never raises and never prints: without git, outside a repository,
in a repository without commits or one git refuses to open (``safe.directory``), the fields it
cannot know are ``None``. The diff of tracked changes is kept on the object but left out of
:meth:`CodeInfo.to_dict`; it is stored beside the run as an artifact and named by its digest, so
``modelyard reproduce`` can check out ``commit``, apply the diff and rerun ``entry_point``.

>>> info = capture_code("/")  # not a repository: nothing to record but the entry point
>>> info.commit is None and info.dirty is False
True
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelyard.errors import InvalidArgument

__all__ = [
    "DIFF_LIMIT",
    "UNTRACKED_FILE_LIMIT",
    "UNTRACKED_SIZE_LIMIT",
    "CodeInfo",
    "capture_code",
    "scrub_url",
]

DIFF_LIMIT = 10 << 20
"""Bytes of ``git diff`` kept; a longer diff is cut and marked ``diff_truncated``."""
UNTRACKED_SIZE_LIMIT = 1 << 20
"""Untracked files larger than this are not digested."""
UNTRACKED_FILE_LIMIT = 1000
"""At most this many untracked files are digested."""

_GIT_TIMEOUT = 5.0
_EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_SOURCE_SUFFIXES = frozenset(
    ".py .pyi .pyx .pxd .ipynb .c .h .cc .cpp .hpp .cu .rs .go .java .scala .kt .jl .r .sh "
    ".sql .toml .yaml .yml .json .cfg .ini .txt .md".split()
)
_SOURCE_NAMES = frozenset({"Makefile", "Dockerfile", "Justfile", "Snakefile", "MLproject"})
_HTTP_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})


@dataclass(frozen=True)
class CodeInfo:
    """What code produced a run; see :func:`capture_code`.

    ``argv`` holds the command-line arguments after the entry point, so the run can be repeated
    as ``python <entry_point> <argv...>`` (``python -m module <argv...>`` for modules).
    ``diff`` may hold undecodable bytes as surrogate escapes: store :meth:`diff_bytes`.
    """

    repo_root: str | None
    commit: str | None
    branch: str | None
    remote: str | None
    dirty: bool
    diff: str | None
    diff_truncated: bool
    untracked: dict[str, str]
    entry_point: str | None
    argv: list[str]
    diff_digest: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.diff is not None and self.diff_digest is None:
            from modelyard._digest import digest_bytes

            object.__setattr__(self, "diff_digest", digest_bytes(_encode(self.diff)))

    def diff_bytes(self) -> bytes | None:
        """The diff as the exact bytes git printed (what ``diff_digest`` names), or ``None``."""
        return None if self.diff is None else _encode(self.diff)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field but the diff text (``diff_digest`` names it)."""
        out = asdict(self)
        del out["diff"]
        if out["diff_digest"] is None:
            del out["diff_digest"]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CodeInfo:
        """Rebuild from :meth:`to_dict` output; ``diff`` is ``None`` unless ``d`` has one."""
        if not isinstance(d, Mapping):
            raise InvalidArgument(
                f"code info must be a mapping, got {type(d).__name__}",
                hint="pass the dict made by CodeInfo.to_dict()",
            )
        try:
            return cls(
                repo_root=d["repo_root"],
                commit=d["commit"],
                branch=d["branch"],
                remote=d["remote"],
                dirty=bool(d["dirty"]),
                diff=d.get("diff"),
                diff_truncated=bool(d["diff_truncated"]),
                untracked=dict(d["untracked"]),
                entry_point=d["entry_point"],
                argv=list(d["argv"]),
                diff_digest=d.get("diff_digest"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"code info is missing or has a malformed field: {exc}",
                hint="pass the dict made by CodeInfo.to_dict()",
            ) from exc


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def scrub_url(url: str) -> str:
    """``url`` without credentials: all user info for http(s), the password for other schemes.

    >>> scrub_url("https://alice:s3cret@example.com/org/repo.git")
    'https://example.com/org/repo.git'
    >>> scrub_url("git@github.com:org/repo.git")
    'git@github.com:org/repo.git'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url  # a path or an scp-like "user@host:path": no secret to remove
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in _HTTP_SCHEMES:
        netloc = hostport  # a lone user name in an http URL is usually a token
    else:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    return urlunsplit(parts._replace(netloc=netloc))


class _Git:
    """Runs git quietly in one folder with settings that keep output stable."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
        self.env.pop("GIT_PAGER", None)

    def _argv(self, args: Sequence[str]) -> list[str]:
        return ["git", "--no-pager", "--no-optional-locks", "-c", "core.quotepath=off", *args]

    def run(self, *args: str) -> bytes | None:
        """Standard output of ``git args``, or ``None`` when git is missing, fails or hangs."""
        try:
            proc = subprocess.run(
                self._argv(args),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=_GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    def run_capped(self, limit: int, *args: str) -> tuple[bytes | None, bool]:
        """Like :meth:`run`, keeping at most ``limit`` bytes; the flag says output was cut."""
        try:
            proc = subprocess.Popen(
                self._argv(args),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None, False
        timer = threading.Timer(_GIT_TIMEOUT, proc.kill)
        timer.start()
        try:
            data = proc.stdout.read(limit + 1) if proc.stdout is not None else b""
            truncated = len(data) > limit
            if truncated:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()
            returncode = proc.wait()
        finally:
            timer.cancel()
        if truncated:
            cut = data.rfind(b"\n", 0, limit) + 1  # keep whole lines
            return data[: cut or limit], True
        if returncode != 0:
            return None, False
        return data, False


@dataclass
class _Status:
    commit: str | None = None
    branch: str | None = None
    upstream: str | None = None
    dirty: bool = False
    untracked: list[str] = field(default_factory=list)


def _parse_status(out: bytes) -> _Status:
    status = _Status()
    records = out.split(b"\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            key, _, value = _decode(rec[2:]).partition(" ")
            if key == "branch.oid" and value != "(initial)":
                status.commit = value
            elif key == "branch.head" and value != "(detached)":
                status.branch = value
            elif key == "branch.upstream":
                status.upstream = value
        elif kind in (b"1", b"u"):
            status.dirty = True
        elif kind == b"2":
            status.dirty = True
            i += 1  # a rename record is followed by its original path
        elif kind == b"?":
            status.untracked.append(os.fsdecode(rec[2:]))
    return status


def _find_work_tree(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _repo_root(git: _Git, start: Path) -> str | None:
    """The work tree holding ``start``; git is asked only when GIT_DIR/GIT_WORK_TREE steer it."""
    if "GIT_DIR" not in os.environ and "GIT_WORK_TREE" not in os.environ:
        found = _find_work_tree(start)
        return None if found is None else str(found)
    out = git.run("rev-parse", "--show-toplevel")
    if not out:
        return None
    return os.fsdecode(out.rstrip(b"\n")) or None


def _remote_url(git: _Git, upstream: str | None) -> str | None:
    names = []
    if upstream and "/" in upstream:
        names.append(upstream.partition("/")[0])
    if "origin" not in names:
        names.append("origin")
    for name in names:
        out = git.run("remote", "get-url", name)
        if out:
            return scrub_url(_decode(out).strip())
    return None


def _diff(git: _Git, commit: str | None) -> tuple[str | None, bool]:
    base = commit or _EMPTY_TREE_SHA1  # no commit yet: diff everything tracked
    out, truncated = git.run_capped(
        DIFF_LIMIT,
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicPrefix=false",
        "diff",
        base,
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-relative",
    )
    if out is None:
        return None, False
    return _decode(out), truncated


def _main_module() -> Any:
    return sys.modules.get("__main__")


def _main_path(main_file: str | None) -> str | None:
    """Absolute path of the script being run, if there is one."""
    if main_file is not None:
        return os.path.abspath(main_file)
    if "ipykernel" in sys.modules:
        return None
    main = _main_module()
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name != "__main__":
        return None  # python -m module
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and path:
        return path if path.startswith("<") else os.path.abspath(path)  # "<stdin>" is no file
    return None


def _entry_point(main_file: str | None, script: str | None, root: str | None) -> str:
    if main_file is None and "ipykernel" in sys.modules:
        return "<notebook>"
    if script is not None:
        if root is not None and os.path.isabs(script):
            real = os.path.realpath(script)
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return Path(os.path.relpath(real, root)).as_posix()
        return script
    spec = getattr(_main_module(), "__spec__", None)
    if spec is not None and spec.name != "__main__":
        name = spec.name.removesuffix(".__main__")
        return f"-m {name}"
    if sys.argv and sys.argv[0] == "-c":
        return "-c"
    return "<interactive>"


def _imported_files(root: str) -> list[str]:
    prefix = root.rstrip(os.sep) + os.sep
    out = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path:
            path = os.path.abspath(path)
            if path.startswith(prefix):
                out.append(Path(os.path.relpath(path, root)).as_posix())
    return out


def _is_source(rel: str) -> bool:
    name = os.path.basename(rel)
    return os.path.splitext(name)[1].lower() in _SOURCE_SUFFIXES or name in _SOURCE_NAMES


def _digest_untracked(root: str, untracked: list[str], preferred: list[str]) -> dict[str, str]:
    from modelyard._digest import digest_file

    candidates = set(untracked)
    first = sorted({p for p in preferred if p in candidates})
    rest = sorted(p for p in candidates.difference(first) if _is_source(p))
    out: dict[str, str] = {}
    for rel in (*first, *rest):
        if len(out) >= UNTRACKED_FILE_LIMIT:
            break
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > UNTRACKED_SIZE_LIMIT:
                continue
            out[rel] = digest_file(path)[0]
        except OSError:
            continue
    return out


def capture_code(
    cwd: str | Path | None = None,
    *,
    argv: Sequence[str] | None = None,
    main_file: str | None = None,
) -> CodeInfo:
    """Record the code of the running program; never raises, never prints.

    ``cwd`` is the folder whose repository is captured (default: the folder of the script being
    run, else the current folder). ``argv`` is shaped like :data:`sys.argv` (program first;
    default ``sys.argv``). ``main_file`` names the script when it cannot be detected.

    >>> info = capture_code("/", argv=["train.py", "--lr", "0.1"])
    >>> info.argv
    ['--lr', '0.1']
    """
    args = list(sys.argv if argv is None else argv)[1:]
    if main_file is None and "ipykernel" in sys.modules:
        args = []  # a kernel's arguments name its connection file, not the user's inputs
    script = _main_path(main_file)
    if cwd is None:
        start = os.path.dirname(script) if script and os.path.isfile(script) else os.getcwd()
    else:
        start = os.fspath(cwd)
    try:
        start_path = Path(start).resolve()
    except (OSError, RuntimeError):
        start_path = Path(os.path.abspath(start))

    git = _Git(str(start_path))
    root = _repo_root(git, start_path)  # outside a work tree, git is not even started
    out = None
    if root is not None:
        out = git.run("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all")
    if out is None or root is None:
        return CodeInfo(
            repo_root=None,
            commit=None,
            branch=None,
            remote=None,
            dirty=False,
            diff=None,
            diff_truncated=False,
            untracked={},
            entry_point=_entry_point(main_file, script, None),
            argv=args,
        )
    status = _parse_status(out)
    entry_point = _entry_point(main_file, script, root)
    preferred = _imported_files(root)
    if script is not None and os.path.isabs(script) and not os.path.isabs(entry_point):
        preferred.append(entry_point)
    diff, truncated = _diff(git, status.commit) if status.dirty else (None, False)
    return CodeInfo(
        repo_root=root,
        commit=status.commit,
        branch=status.branch,
        remote=_remote_url(git, status.upstream),
        dirty=status.dirty,
        diff=diff,
        diff_truncated=truncated,
        untracked=_digest_untracked(root, status.untracked, preferred),
        entry_point=entry_point,
        argv=args,
    )
