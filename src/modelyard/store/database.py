"""Open the metadata store: engines, transactions, and the schema version check.

:class:`Database` wraps one SQLAlchemy engine. SQLite files get WAL mode, a busy timeout and
``BEGIN IMMEDIATE`` for write transactions, so several processes can write at once without
"database is locked" (a deferred transaction that later tries to write cannot wait for the
lock; an immediate one waits up to the busy timeout). PostgreSQL needs none of that.

Opening a store checks its schema revision: an empty database is created at the newest
revision; an older one raises :class:`~modelyard.errors.SchemaOutdated` with the hint
``modelyard db upgrade``; one made by a newer Modelyard says to upgrade Modelyard.

>>> db = Database.open("sqlite://")          # in-memory, for a quick look
>>> db.revision() == HEAD_REVISION
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from modelyard.errors import ConfigError, SchemaOutdated, StoreError

__all__ = ["HEAD_REVISION", "Database", "now_ms", "upsert"]

#: Newest Alembic revision in ``store/migrations/versions`` (a test checks they agree).
HEAD_REVISION = "0005"

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x6D6F64656C  # "model": the PostgreSQL advisory lock taken while migrating


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


class Database:
    """One metadata store reached through a SQLAlchemy URL.

    Build it with :meth:`open`; the constructor only stores its arguments.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self._engine: Engine | None = None

    # -- engine -------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _create_engine(self) -> Engine:
        try:
            url = make_url(self.url)
        except ArgumentError as exc:
            raise ConfigError(
                f"database URL {self.url!r} is not a valid SQLAlchemy URL",
                hint="use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db",
            ) from exc
        backend = url.get_backend_name()
        kwargs: dict[str, Any] = {}
        if backend == "sqlite":
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            else:
                kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"timeout": self.busy_timeout, "check_same_thread": False}
        elif backend == "postgresql":
            if url.get_driver_name() in ("psycopg2", ""):
                url = url.set(drivername="postgresql+psycopg")
            kwargs["pool_pre_ping"] = True
        else:
            raise ConfigError(
                f"database URL {_redact(self.url)!r} uses {backend!r}; Modelyard supports "
                "sqlite and postgresql",
                hint="set MODELYARD_DATABASE_URL to sqlite:///... or postgresql+psycopg://...",
            )
        try:
            engine = create_engine(url, **kwargs)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"the driver for {backend} is not installed ({exc.name})",
                hint="pip install 'modelyard[postgres]'",
            ) from exc
        if backend == "sqlite":
            _configure_sqlite(engine, self.busy_timeout)
        return engine

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with self._errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._errors(), self.engine.connect() as conn:
            conn.execution_options(modelyard_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StoreError(
                f"metadata store {_redact(self.url)} failed: {exc.orig}",
                hint="check that the database is reachable and not read-only",
            ) from exc

    # -- schema -------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, busy_timeout: float = 30.0, create: bool = True) -> Database:
        """Open the store at ``url``, creating the schema in an empty database."""
        db = cls(url, busy_timeout=busy_timeout)
        db.check(create=create)
        return db

    def revision(self) -> str | None:
        """The schema revision of the database, or None when it has no Modelyard tables."""
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as exc:
            raise StoreError(
                f"cannot reach the metadata store {_redact(self.url)}: {exc.orig}",
                hint="check MODELYARD_DATABASE_URL and that the database server is running",
            ) from exc

    def check(self, *, create: bool = True) -> None:
        """Raise unless the schema is at :data:`HEAD_REVISION` (creating an empty store)."""
        current = self.revision()
        if current == HEAD_REVISION:
            return
        if current is None and create:
            self.upgrade()
            return
        if current is None:
            raise SchemaOutdated(
                f"metadata store {_redact(self.url)} has no Modelyard schema",
                hint="create it with: modelyard db upgrade",
            )
        if current not in _known_revisions():
            raise SchemaOutdated(
                f"metadata store {_redact(self.url)} is at schema revision {current}, made by a "
                "newer Modelyard than this one",
                hint="upgrade Modelyard: pip install -U modelyard",
            )
        raise SchemaOutdated(
            f"metadata store {_redact(self.url)} is at schema revision {current}; this "
            f"Modelyard needs {HEAD_REVISION}",
            hint="back it up, then run: modelyard db upgrade",
        )

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate the schema to ``revision``; returns (before, after)."""
        from alembic import command

        before = self.revision()
        # One migrator at a time: a write transaction on SQLite (BEGIN IMMEDIATE), an
        # advisory lock on PostgreSQL. A second process waits, then finds nothing to do.
        with self.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        return before, self.revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            self._engine.dispose()


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, so writes can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
            except Exception:  # pragma: no cover - read-only media; keep the default journal
                pass
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("modelyard_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def now_ms() -> int:
    """Now, in integer milliseconds since the epoch: how every time in the store is kept."""
    return time.time_ns() // 1_000_000


def upsert(conn: Connection, table: Any) -> Any:
    """An INSERT on ``table`` with ``on_conflict_do_nothing/update`` for the connection's
    dialect (SQLite and PostgreSQL spell ``ON CONFLICT`` the same way)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def is_integrity_error(exc: BaseException) -> bool:
    """True when ``exc`` is a uniqueness or foreign-key violation from the database."""
    from sqlalchemy.exc import IntegrityError

    return isinstance(exc, IntegrityError)
