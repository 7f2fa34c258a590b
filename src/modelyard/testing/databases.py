"""Throw-away PostgreSQL databases for tests.

>>> with temporary_postgres_database("postgresql+psycopg://postgres@127.0.0.1/test") as url:
...     ...   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

__all__ = ["temporary_postgres_database"]


@contextlib.contextmanager
def temporary_postgres_database(admin_url: str, prefix: str = "modelyard_test") -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it (forcibly) after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
