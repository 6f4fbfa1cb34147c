"""Tracked repositories: which installation each belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from app.store.tables import repositories


def add(conn: Connection, full_name: str, installation_id: int, now: datetime) -> None:
    try:
        with conn.begin_nested():
            conn.execute(
                repositories.insert().values(
                    full_name=full_name, installation_id=installation_id, added_at=now, active=1
                )
            )
    except IntegrityError:
        conn.execute(
            update(repositories)
            .where(repositories.c.full_name == full_name)
            .values(installation_id=installation_id, active=1)
        )


def remove(conn: Connection, full_name: str) -> None:
    conn.execute(update(repositories).where(repositories.c.full_name == full_name).values(active=0))


def active(conn: Connection) -> list[tuple[str, int]]:
    rows = conn.execute(
        select(repositories.c.full_name, repositories.c.installation_id)
        .where(repositories.c.active == 1)
        .order_by(repositories.c.full_name)
    )
    return [(row.full_name, row.installation_id) for row in rows]
