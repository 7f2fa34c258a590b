"""The SQL schema of the metadata store, as SQLAlchemy Core tables.

One schema serves SQLite and PostgreSQL; only the dialect differs, and a few covering
indexes marked ``_sqlite_only`` that exist on SQLite alone. Times are integer
milliseconds since the Unix epoch (UTC). Identifiers are 32-hex-character strings for runs and
integers for experiments. Digests are 64-hex BLAKE3 strings (see ``modelyard._digest``).

Metric points live in ``metrics`` (one row per point, NaN kept through ``is_nan`` because SQLite
turns a NaN REAL into NULL); ``latest_metrics`` keeps the newest point per run and key so
search and tables never scan the history. ``metric_batches`` makes batch writes idempotent:
a batch id seen before is skipped, so a client that retries after a lost answer never
duplicates points. ``events`` is the append-only audit log later used by the registry,
deployments and automations.

Changing anything here needs an Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

__all__ = [
    "artifacts",
    "datasets",
    "environments",
    "events",
    "experiments",
    "latest_metrics",
    "metadata",
    "metric_batches",
    "metrics",
    "model_aliases",
    "model_versions",
    "params",
    "pipeline_runs",
    "registered_models",
    "run_datasets",
    "runs",
    "step_cache",
    "step_runs",
    "tags",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def _sqlite_only(index: Index) -> Index:
    """An index created on SQLite only; ``info["dialects"]`` tells the schema test so."""
    index.info["dialects"] = ("sqlite",)
    return index.ddl_if(dialect="sqlite")


# SQLite only aliases ROWID for a column declared exactly INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("python", String(64), nullable=False),
    Column("platform", String(256), nullable=False),
    Column("packages", JSON, nullable=False),
    Column("hardware", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_run_id", String(32), nullable=True),
    Column("user", String(256), nullable=False, server_default=""),
    Column("host", String(256), nullable=False, server_default=""),
    Column("pid", Integer, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("entry_point", Text, nullable=True),
    Column("code", JSON, nullable=True),
    Column("environment_digest", String(64), ForeignKey("environments.digest"), nullable=True),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_run_id"),
    Index(None, "status"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "run_id"),
    # On SQLite, cover ``params.x = 'v'`` and the loading of a page of runs' params (read from
    # the index alone, no table row). Not on PostgreSQL: a value may be 6,000 characters, past
    # its B-tree row limit of 2,704 bytes.
    _sqlite_only(Index(None, "key", "value", "run_id")),
    _sqlite_only(Index(None, "run_id", "key", "value")),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "run_id"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("is_nan", Boolean, nullable=False, server_default=false()),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("is_nan", Boolean, nullable=False, server_default=false()),
    # Covers a search's metric comparison: the matching run ids come from the index alone.
    Index(None, "key", "value", "is_nan", "run_id"),
    # On SQLite, covers loading a page of runs' latest metrics. PostgreSQL reads them through
    # the primary key (an index-only scan there also needs a vacuumed table).
    _sqlite_only(Index(None, "run_id", "key", "value", "is_nan")),
)

metric_batches = Table(
    "metric_batches",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
    Column("points", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("columns", Integer, nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("schema", JSON, nullable=True),
    Column("profile", JSON, nullable=True),
    Column("manifest", JSON, nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("dataset_digest", String(64), ForeignKey("datasets.digest"), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("name", String(256), nullable=False),
    Column("context", String(64), nullable=False, server_default=""),
    Column("source", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("run_id", "direction", "name", "context", "dataset_digest"),
    Index(None, "dataset_digest"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "digest"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", _BigId, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(256), nullable=False),
    Column("actor", String(256), nullable=False, server_default=""),
    Column("payload", JSON, nullable=True),
    Index(None, "subject_type", "subject_id", "time"),
    Index(None, "kind", "time"),
)

# -- the model registry (revision 0003) --------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, server_default=""),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("run_id", String(32), ForeignKey("runs.run_id"), nullable=False),
    Column("artifact_path", String(1024), nullable=False),
    Column("model_digest", String(64), nullable=True),
    Column("flavor", String(64), nullable=True),
    Column("signature", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("params", JSON, nullable=True),
    Column("status", String(16), nullable=False, server_default="ready"),
    Column("status_message", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("reproduce", JSON, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, server_default=""),
    Index(None, "run_id"),
    Index(None, "model_digest"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False, server_default=""),
    ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
    Index(None, "name", "version"),
)

# -- pipelines (revision 0004) -----------------------------------------------------------------

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("pipeline", String(256), nullable=False),
    Column("source", Text, nullable=True),
    Column("params", JSON, nullable=False),
    Column("graph", JSON, nullable=False),
    Column("executor", String(32), nullable=False),
    Column("resumed_from", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "pipeline", "created_at"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column(
        "pipeline_run_id",
        String(32),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("step", String(256), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("components", JSON, nullable=True),
    Column("cached_from", String(32), nullable=True),
    Column("outputs", JSON, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("pipeline_run_id", "step"),
    Index(None, "step", "created_at"),
    Index(None, "cache_key"),
)

step_cache = Table(
    "step_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("step", String(256), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("reads", JSON, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Index(None, "run_id"),
)
