"""The metadata store: SQLAlchemy tables, connections, migrations and the search compiler.

One schema for SQLite (the zero-setup default) and PostgreSQL (a shared store); only the
URL differs. Domain packages (tracking, registry, ...) build their queries on these tables.
"""

from __future__ import annotations

from modelyard.store.database import HEAD_REVISION, Database

__all__ = ["HEAD_REVISION", "Database"]
