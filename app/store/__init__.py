"""Persistence: SQLAlchemy Core over SQLite or PostgreSQL, with Alembic migrations."""

from __future__ import annotations

from app.store.db import make_engine, migrate, open_store, schema_ready

__all__ = ["make_engine", "migrate", "open_store", "schema_ready"]
