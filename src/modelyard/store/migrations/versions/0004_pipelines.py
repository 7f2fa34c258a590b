"""pipelines: pipeline runs, step runs with their cache key, and the shared step cache

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:10:00

``pipeline_runs`` describes a run that executed a pipeline (its name, where its code lives, its
params and DAG); ``step_runs`` links each step's child run to its pipeline run with the step's
cache key, the key's components (so ``modelyard pipelines explain`` can say what changed), the
outputs it produced or reused and where they were cached from; ``step_cache`` maps a cache key to
the step run that produced the outputs, shared by every process and machine using the store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("graph", sa.JSON(), nullable=False),
        sa.Column("executor", sa.String(length=32), nullable=False),
        sa.Column("resumed_from", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name=op.f("fk_pipeline_runs_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_runs_pipeline_created_at"),
            ["pipeline", "created_at"],
            unique=False,
        )

    op.create_table(
        "step_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("components", sa.JSON(), nullable=True),
        sa.Column("cached_from", sa.String(length=32), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["runs.run_id"],
            name=op.f("fk_step_runs_pipeline_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_step_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_step_runs")),
        sa.UniqueConstraint(
            "pipeline_run_id", "step", name=op.f("uq_step_runs_pipeline_run_id_step")
        ),
    )
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_runs_cache_key"), ["cache_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_step_runs_step_created_at"), ["step", "created_at"], unique=False
        )

    op.create_table(
        "step_cache",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("reads", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_step_cache_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cache_key", name=op.f("pk_step_cache")),
    )
    with op.batch_alter_table("step_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_cache_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("step_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_cache_run_id"))
    op.drop_table("step_cache")
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_runs_step_created_at"))
        batch_op.drop_index(batch_op.f("ix_step_runs_cache_key"))
    op.drop_table("step_runs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_pipeline_created_at"))
    op.drop_table("pipeline_runs")
