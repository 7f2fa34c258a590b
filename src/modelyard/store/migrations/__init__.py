"""Alembic migrations of the metadata store (one revision per schema change)."""
