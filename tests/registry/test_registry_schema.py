"""The registry tables: created by the migrations, and an 0002 store upgrades to them."""

from __future__ import annotations

from sqlalchemy import inspect, text

from modelyard.store.database import HEAD_REVISION, Database


def test_the_registry_tables_exist(database_url):
    # that the migrations match store/tables.py, index by index, is tests/store's to check
    db = Database.open(database_url)
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    db.dispose()
    assert {"registered_models", "model_versions", "model_aliases"} <= tables


def test_an_0002_store_upgrades_and_downgrades(database_url):
    from alembic import command

    from modelyard.store.database import _alembic_config

    db = Database(database_url)
    with db.engine.begin() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        if db.revision() is not None:
            command.downgrade(config, "0002")
        else:
            command.upgrade(config, "0002")
        assert not inspect(conn).has_table("model_versions")
        conn.execute(
            text(
                "INSERT INTO experiments (name, lifecycle_stage, created_at, updated_at) "
                "VALUES ('kept', 'active', 0, 0)"
            )
        )
    assert db.upgrade() == ("0002", HEAD_REVISION)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM experiments")).scalar() == "kept"
        assert inspect(conn).has_table("model_aliases")
    db.dispose()
