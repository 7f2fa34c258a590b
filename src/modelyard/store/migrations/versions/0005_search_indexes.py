"""search indexes: covering indexes for metric and param comparisons

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:00:00

A search starts from the runs one metric comparison selects and checks param comparisons
against the runs that match them. ``latest_metrics (key, value, is_nan, run_id)`` replaces
``(key, value)`` so that range scan reads no table row. On SQLite, ``params (key, value,
run_id)`` does the same for ``params.x = 'v'``, and ``params (run_id, key, value)`` and
``latest_metrics (run_id, key, value, is_nan)`` cover loading the params and metrics of a page
of runs. PostgreSQL gets none of these three: a param value (up to 6,000 characters) can exceed
its B-tree row limit of 2,704 bytes, and it reads latest metrics through the primary key.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_latest_metrics_key_value"))
        batch_op.create_index(
            batch_op.f("ix_latest_metrics_key_value_is_nan_run_id"),
            ["key", "value", "is_nan", "run_id"],
            unique=False,
        )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("params", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_params_key_value_run_id"), ["key", "value", "run_id"], unique=False
            )
            batch_op.create_index(
                batch_op.f("ix_params_run_id_key_value"), ["run_id", "key", "value"], unique=False
            )
        with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_latest_metrics_run_id_key_value_is_nan"),
                ["run_id", "key", "value", "is_nan"],
                unique=False,
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f("ix_latest_metrics_run_id_key_value_is_nan"))
        with op.batch_alter_table("params", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f("ix_params_run_id_key_value"))
            batch_op.drop_index(batch_op.f("ix_params_key_value_run_id"))
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_latest_metrics_key_value_is_nan_run_id"))
        batch_op.create_index(
            batch_op.f("ix_latest_metrics_key_value"), ["key", "value"], unique=False
        )
