"""Tracked repositories: which installation each belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, select, update
from sqlalchemy.exc import IntegrityError

from app.store.tables import clocks, outbox, repositories


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


def installations_of(conn: Connection, names: list[str]) -> dict[str, int]:
    """The installations these tracked repositories belong to (untracked ones are left out):
    one look for a batch of deliveries."""
    if not names:
        return {}
    rows = conn.execute(
        select(repositories.c.full_name, repositories.c.installation_id).where(
            repositories.c.full_name.in_(names), repositories.c.active == 1
        )
    )
    return {str(row.full_name): int(row.installation_id) for row in rows}


def installation_of(conn: Connection, full_name: str) -> int | None:
    """The installation a tracked repository belongs to, or None when it is not tracked."""
    return _tracked(conn, full_name, repositories.c.installation_id)


def policy_version(conn: Connection, full_name: str) -> int | None:
    """How many times a push changed this tracked repository's policy (None: not tracked)."""
    return _tracked(conn, full_name, repositories.c.policy_version)


def _tracked(conn: Connection, full_name: str, column: Column[int]) -> int | None:
    found = conn.execute(
        select(column).where(repositories.c.full_name == full_name, repositories.c.active == 1)
    ).scalar()
    return None if found is None else int(found)


def policy_changed(conn: Connection, full_name: str) -> int:
    """A push changed `full_name`'s policy file: its version moves on, or, for an account's
    `.github` repository (the org-wide file), every repository of that account's. Returns how
    many repositories it touched."""
    account, _, name = full_name.partition("/")
    which = (
        repositories.c.full_name.like(f"{_escape(account)}/%", escape="\\")
        if name.lower() == ".github"
        else repositories.c.full_name == full_name
    )
    result = conn.execute(
        update(repositories).where(which).values(policy_version=repositories.c.policy_version + 1)
    )
    return int(result.rowcount)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def active(conn: Connection) -> list[tuple[str, int]]:
    rows = conn.execute(
        select(repositories.c.full_name, repositories.c.installation_id)
        .where(repositories.c.active == 1)
        .order_by(repositories.c.full_name)
    )
    return [(row.full_name, row.installation_id) for row in rows]


def rename(conn: Connection, old: str, new: str) -> int:
    """A repository renamed or transferred on GitHub: its clocks, waiting effects and
    tracking follow it (responses on the new name count). Returns the clocks moved."""
    moved = conn.execute(update(clocks).where(clocks.c.repo == old).values(repo=new)).rowcount
    conn.execute(
        update(outbox).where(outbox.c.repo == old, outbox.c.status == "pending").values(repo=new)
    )
    known = conn.execute(select(repositories).where(repositories.c.full_name == old)).first()
    if known is not None:
        conn.execute(update(repositories).where(repositories.c.full_name == old).values(active=0))
        add(conn, new, known.installation_id, known.added_at)
    return int(moved)
