"""Facts about this store: its deployment id (made once by its migration) and the targets
(GitHub, Slack, PagerDuty) the deployment uses, as `serve` recorded them."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from app.store.tables import meta

TARGETS = "targets"  # {target: when serve first had its credentials}; absent: never recorded


def deployment(conn: Connection) -> str:
    """This store's deployment id (12 hex digits)."""
    return str(conn.execute(select(meta.c.value).where(meta.c.key == "deployment")).scalar_one())


def targets(conn: Connection) -> dict[str, datetime] | None:
    """The targets the deployment uses and since when; None: no `serve` has recorded them
    yet (a store from before they were recorded), so every target is taken as used."""
    value = conn.execute(select(meta.c.value).where(meta.c.key == TARGETS)).scalar()
    if value is None:
        return None
    return {name: datetime.fromisoformat(at) for name, at in json.loads(value).items()}


@dataclass(frozen=True)
class Recorded:
    """What a start-up changed: targets used from now on, and used ones it lacks."""

    added: list[str] = field(default_factory=list)
    lacking: dict[str, datetime] = field(default_factory=dict)
    first: bool = False  # the first record of this store: nothing was added to an old set


def record_targets(conn: Connection, have: Collection[str], now: datetime) -> Recorded:
    """Add the targets a starting `serve` has credentials for. A target is never removed
    here: a replica started with an incomplete environment must not turn alerts off for
    the whole deployment (an operator removes one with `remove_target`)."""
    known = targets(conn)
    used = dict(known or {})
    added = sorted(t for t in have if t not in used)
    used.update({t: now for t in added})
    value = json.dumps({t: at.isoformat() for t, at in sorted(used.items())})
    if known is None:
        conn.execute(insert(meta).values(key=TARGETS, value=value))
    elif added:
        conn.execute(update(meta).where(meta.c.key == TARGETS).values(value=value))
    lacking = {t: at for t, at in sorted(used.items()) if t not in have}
    return Recorded(added=added, lacking=lacking, first=known is None)


def remove_target(conn: Connection, target: str) -> bool:
    """The deployment stops using `target`; False when it did not use it."""
    used = targets(conn)
    if used is None or target not in used:
        return False
    del used[target]
    value = json.dumps({t: at.isoformat() for t, at in sorted(used.items())})
    conn.execute(update(meta).where(meta.c.key == TARGETS).values(value=value))
    return True
