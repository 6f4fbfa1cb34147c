"""Deliveries: stored before the 202, claimed by one worker, retried with backoff, or dead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from app.store import queue
from app.store.tables import deliveries

PENDING, DONE, DEAD, REJECTED = "pending", "done", "dead", "rejected"


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    issue_number: int | None
    body: str
    received_at: datetime
    status: str
    attempts: int
    last_error: str | None
    lane: int = queue.ROUTINE_LANE


def record(
    conn: Connection,
    *,
    delivery_id: str,
    event: str,
    action: str | None,
    installation_id: int | None,
    repo: str | None,
    issue_number: int | None,
    body: str,
    now: datetime,
    status: str = PENDING,
    error: str | None = None,
    lane: int = queue.ROUTINE_LANE,
) -> bool:
    """Insert a delivery; False when that delivery id is already stored (a redelivery)."""
    row = {
        "id": delivery_id,
        "event": event,
        "action": action,
        "installation_id": installation_id,
        "repo": repo,
        "issue_number": issue_number,
        "body": body,
        "received_at": now,
        "status": status,
        "next_attempt_at": now,
        "last_error": error,
        "lane": lane,
    }
    return bool(queue.insert_new(conn, deliveries, [row], "id"))


# Production down first, then by arrival, taken in turns by installation (TENANT): one
# installation's backfill delays no other's deliveries (ix_deliveries_fair).
CLAIM_ORDER = [deliveries.c.lane, deliveries.c.received_at, deliveries.c.id]
TENANT: ColumnElement[Any] = deliveries.c.installation_id


def claim_ready(
    conn: Connection, *, owner: str, now: datetime, lease: timedelta, limit: int = 50
) -> list[Delivery]:
    """Claim ready deliveries at once (one transaction for the batch): production down
    first, then each installation's oldest in turn."""
    rows = queue.claim_ready(
        conn,
        deliveries,
        owner=owner,
        now=now,
        lease=lease,
        order=CLAIM_ORDER,
        limit=limit,
        tenant=TENANT,
    )
    return [_delivery(row) for row in rows]


def hold(
    conn: Connection, delivery_id: str, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Renew the claim on one delivery before acting on it; False: the claim was lost."""
    return queue.renew(conn, deliveries, owner=owner, now=now, lease=lease, row_id=delivery_id) == 1


def give_back(conn: Connection, ids: list[str], *, owner: str) -> int:
    """Release claimed deliveries never tried (urgent work cuts in), attempt not counted."""
    return queue.give_back(conn, deliveries, ids, owner=owner)


def renew(conn: Connection, *, owner: str, now: datetime, lease: timedelta) -> int:
    """The heartbeat: extend every claim of this batch still held."""
    return queue.renew(conn, deliveries, owner=owner, now=now, lease=lease)


def get(conn: Connection, delivery_id: str) -> Delivery | None:
    row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
    return None if row is None else _delivery(row)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event=row.event,
        action=row.action,
        installation_id=row.installation_id,
        repo=row.repo,
        issue_number=row.issue_number,
        body=row.body,
        received_at=row.received_at,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        lane=row.lane,
    )


def finish(conn: Connection, delivery_id: str, *, owner: str, now: datetime) -> None:
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.lease_owner == owner,
            deliveries.c.status == PENDING,
        )
        .values(status=DONE, processed_at=now, lease_until=None, last_error=None)
    )


def finish_many(conn: Connection, ids: list[str], *, owner: str, now: datetime) -> set[str]:
    """`finish` for a wave of deliveries, in one statement: the ids `owner` still held, now
    processed (the others were taken over; whatever they owe must not be stored). Run in the
    transaction that stores the wave's writes, it is also their claims' last check."""
    if not ids:
        return set()
    done = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(ids),
            deliveries.c.lease_owner == owner,
            deliveries.c.status == PENDING,
        )
        .values(status=DONE, processed_at=now, lease_until=None, last_error=None)
        .returning(deliveries.c.id)
    )
    return {row[0] for row in done}


def fail(
    conn: Connection, delivery_id: str, *, owner: str, error: str, retry_at: datetime | None
) -> None:
    """Schedule another attempt at `retry_at`, or mark the delivery dead when None."""
    queue.release(
        conn, deliveries, delivery_id, owner=owner, error=error, retry_at=retry_at, dead=DEAD
    )


def failed(conn: Connection, limit: int = 200) -> list[Delivery]:
    """Dead deliveries and those waiting for a retry after an error, newest first."""
    rows = conn.execute(
        select(deliveries.c.id)
        .where(
            or_(
                deliveries.c.status.in_([DEAD, REJECTED]),
                and_(deliveries.c.status == PENDING, deliveries.c.last_error.is_not(None)),
            )
        )
        .order_by(deliveries.c.received_at.desc())
        .limit(limit)
    )
    found = [get(conn, row.id) for row in rows]
    return [d for d in found if d is not None]


def replay(conn: Connection, delivery_id: str) -> bool:
    """Put a dead (or done) delivery back in the queue, due at once for every worker (the
    operator's clock and the workers' need not agree); False when there is no such delivery."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status.in_([DEAD, DONE]))
        .values(status=PENDING, next_attempt_at=queue.AT_ONCE, attempts=0, lease_until=None)
    )
    return result.rowcount == 1
