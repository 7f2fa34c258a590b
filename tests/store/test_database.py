"""Opening the metadata store: schema creation, migrations, version checks, SQLite settings."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import text

from modelyard.cli.main import cli
from modelyard.errors import ConfigError, SchemaOutdated, StoreError
from modelyard.store.database import HEAD_REVISION, Database


def test_head_revision_matches_the_migration_scripts():
    from alembic.script import ScriptDirectory

    from modelyard.store.database import _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == HEAD_REVISION


def test_empty_store_is_created_at_head(database_url):
    db = Database.open(database_url)
    assert db.revision() == HEAD_REVISION
    db.dispose()


def test_migrations_match_the_table_definitions(database_url):
    """Alembic finds no difference between the migrated schema and store/tables.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelyard.store.tables import metadata

    def declared_here(obj: Any, _name: Any, type_: str, _reflected: bool, _other: Any) -> bool:
        # an index declared for other dialects only (``info["dialects"]``) is not created here
        dialects = obj.info.get("dialects") if type_ == "index" else None
        return dialects is None or conn.dialect.name in dialects

    db = Database.open(database_url)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": declared_here})
        diffs = compare_metadata(context, metadata)
        inspector = sa.inspect(conn)
        tables = ("params", "latest_metrics")
        indexes = {i["name"] for t in tables for i in inspector.get_indexes(t)}
    db.dispose()
    assert diffs == []
    assert "ix_latest_metrics_key_value_is_nan_run_id" in indexes
    sqlite_only = {
        "ix_params_key_value_run_id",
        "ix_params_run_id_key_value",
        "ix_latest_metrics_run_id_key_value_is_nan",
    }
    assert indexes >= sqlite_only if conn.dialect.name == "sqlite" else not indexes & sqlite_only


def test_outdated_store_says_how_to_upgrade(database_url):
    from alembic import command

    from modelyard.store.database import _alembic_config

    db = Database(database_url)
    with db.engine.begin() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        if db.revision() is not None:  # the PostgreSQL session database is already at head
            command.downgrade(config, "base")
        command.upgrade(config, "0001")
    with pytest.raises(SchemaOutdated, match="revision 0001; this Modelyard needs") as info:
        Database.open(database_url)
    assert info.value.hint == "back it up, then run: modelyard db upgrade"
    result = CliRunner().invoke(cli, ["--database-url", database_url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"0001 -> {HEAD_REVISION}" in result.output
    assert Database.open(database_url).revision() == HEAD_REVISION
    db.dispose()


def test_store_from_a_newer_modelyard_says_to_upgrade_modelyard(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    db = Database.open(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaOutdated, match="newer Modelyard") as info:
        Database.open(url)
    assert "pip install -U modelyard" in info.value.hint


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    db = Database.open(f"sqlite:///{tmp_path / 'sub' / 'm.db'}", busy_timeout=12)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", "not a valid SQLAlchemy URL"),
        ("mysql://root@127.0.0.1/test", "Modelyard supports sqlite and postgresql"),
    ],
)
def test_bad_database_url_is_a_config_error(url, match):
    with pytest.raises(ConfigError, match=match):
        Database.open(url)


def test_unreachable_postgres_is_a_store_error():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nope?connect_timeout=2"
    with pytest.raises(StoreError, match="cannot reach the metadata store") as info:
        Database.open(url)
    assert info.value.status == 503
    assert "MODELYARD_DATABASE_URL" in info.value.hint


def test_password_is_not_shown_in_errors():
    url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/nope?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        Database.open(url)
    assert "hunter2" not in str(info.value)
