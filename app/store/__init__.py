"""Persistence: SQLAlchemy Core over SQLite or PostgreSQL, with Alembic migrations."""

from __future__ import annotations

from app.store.connect import make_engine, migrate, open_engine, schema_ready

__all__ = ["make_engine", "migrate", "open_engine", "schema_ready"]
