"""A small SQLite file that remembers file digests by ``(path, size, mtime_ns, inode)``.

Hashing a large dataset folder again just to learn it has not changed is wasteful. The stat cache
maps a file's absolute path and the stat fields that change whenever its bytes are rewritten
(size, modification time in nanoseconds, inode) to the digest computed last time; when all four
still match, the file is not read. Entries for files modified in the last two seconds are never
stored: a write landing in the same clock tick as the hash could otherwise go unseen (git's
"racy clean" problem). Several processes may share one cache file: it runs in WAL mode with a
busy timeout, and a failed write to the cache never loses a digest, it only costs a re-hash.

>>> cache = StatCache("/tmp/modelyard-stat-cache.sqlite")   # nothing is opened yet
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from modelyard.errors import BackendError

__all__ = ["RACY_WINDOW_NS", "StatCache"]

RACY_WINDOW_NS = 2_000_000_000
_BUSY_TIMEOUT_S = 30.0
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL
)
"""


def _key(path: Path) -> str:
    return os.path.abspath(path)


class StatCache:
    """Digests of files keyed by (absolute path, size, mtime_ns, inode), in a SQLite file.

    ``__init__`` only stores ``path``; the file (and its parent folder) is created on first use.

    >>> cache = StatCache(tmp_path / "stat-cache.sqlite")              # doctest: +SKIP
    >>> st = os.stat(data_file)                                        # doctest: +SKIP
    >>> cache.lookup(data_file, st) is None                            # doctest: +SKIP
    True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StatCache({str(self.path)!r})"

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        """The digest stored for ``path`` if its size, mtime_ns and inode still match ``st``."""
        with self._lock:
            row = self._execute(
                "SELECT digest FROM stat_cache WHERE path = ? AND size = ? AND mtime_ns = ?"
                " AND inode = ?",
                (_key(path), st.st_size, st.st_mtime_ns, st.st_ino),
            ).fetchone()
        return None if row is None else str(row[0])

    def store(self, path: Path, st: os.stat_result, digest: str) -> None:
        """Remember ``digest`` for ``path`` as it was when ``st`` was taken.

        Skipped (silently, by design) when the file was modified less than two seconds ago:
        a later write within the same mtime tick would be invisible to the cache.
        """
        if abs(time.time_ns() - st.st_mtime_ns) < RACY_WINDOW_NS:
            return
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO stat_cache (path, size, mtime_ns, inode, digest)"
                " VALUES (?, ?, ?, ?, ?)",
                (_key(path), st.st_size, st.st_mtime_ns, st.st_ino, digest),
            )

    def close(self) -> None:
        """Close the SQLite connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._pid = None

    def _execute(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        conn = self._connect()
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _connect(self) -> sqlite3.Connection:
        # A connection inherited through fork() must not be used by the child: reopen.
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        file = Path(self.path).expanduser()
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                file, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from exc
        try:
            self._setup(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        self._conn = conn
        self._pid = os.getpid()
        return conn

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            # Switching to WAL needs a brief exclusive lock and may report "locked" without
            # waiting for the busy handler when another process is doing the same: retry.
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _error(self, exc: BaseException) -> BackendError:
        return BackendError(
            f"stat cache '{self.path}' could not be used: {exc}",
            hint="the stat cache only saves re-hashing: delete the file, or pass stat_cache=None",
        )
