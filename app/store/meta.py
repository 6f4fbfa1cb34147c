"""Facts about this store, made once by its migration."""

from __future__ import annotations

from sqlalchemy import Connection, select

from app.store.tables import meta


def deployment(conn: Connection) -> str:
    """This store's deployment id (12 hex digits)."""
    return str(conn.execute(select(meta.c.value).where(meta.c.key == "deployment")).scalar_one())
