"""PostgreSQL wakes every worker when the receiver commits deliveries (LISTEN/NOTIFY), so a
worker in another process or on another replica (`sla-bot work` beside `serve`) starts on
them at once instead of at its next poll.

The receiver's group commit sends one notification in the transaction that stores the
deliveries (app/store/ingest.py): PostgreSQL delivers it only once they are committed, and
never when the transaction rolls back. https://www.postgresql.org/docs/current/sql-notify.html
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.engine import make_url

from app.engine.scheduler import Kick
from app.store.ingest import CHANNEL
from app.store.queue import URGENT_LANE

log = logging.getLogger(__name__)

RECONNECT_MAX = 30.0  # the longest wait before listening again after the database went away


def heard(payload: str, kick: Kick) -> None:
    """Pass a notification's counts to `kick` (`Worker.kick`), as the receiver would."""
    try:
        urgent, routine = (int(part) for part in payload.split())
    except ValueError:
        log.warning("unreadable wake-up notification ignored")
        return
    if urgent:
        kick(lane=URGENT_LANE, stored=urgent)
    if routine:
        kick(stored=routine)


def listener(database_url: str) -> Callable[[Kick], Coroutine[Any, Any, None]] | None:
    """What listens for the receiver's notifications on this database (None: not PostgreSQL)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return None
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def listen(kick: Kick) -> None:
        await listen_forever(conninfo, kick)

    return listen


async def listen_forever(conninfo: str, kick: Kick, retry: float = 1.0) -> None:
    """LISTEN on its own connection and kick for every notification; after the database went
    away, listen again (meanwhile the worker's poll finds the work), looking once for what
    was stored while nobody listened."""
    import psycopg  # here, not at import: a SQLite deployment's commands never load it

    loop, wait = asyncio.get_running_loop(), retry
    while True:
        began = loop.time()
        try:
            await _listen_once(conninfo, kick)
        except (psycopg.Error, OSError) as exc:  # the database is away: one line a minute
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.error(
                "wake-up listener: the store is unreachable, listening again (%s); the "
                "worker's poll finds new work meanwhile",
                reason,
                extra={"_kind": "wakeups:unreachable"},
            )
        if loop.time() - began > RECONNECT_MAX:
            wait = retry  # it listened a while: not a database that keeps refusing
        await asyncio.sleep(wait)
        wait = min(wait * 2, RECONNECT_MAX)


async def _listen_once(conninfo: str, kick: Kick) -> None:
    import psycopg
    from psycopg import sql

    connection: Any = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    async with connection:
        found = await (await connection.execute("SELECT current_schema()")).fetchone()
        channel = sql.Identifier(CHANNEL + str(found[0]))
        await connection.execute(sql.SQL("LISTEN {}").format(channel))
        kick()  # stored while nobody listened
        async for note in connection.notifies():
            heard(note.payload, kick)
