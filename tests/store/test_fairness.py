"""Fair to every installation: one installation's flood delays nobody else's work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from app.store import deliveries, outbox, queue, tables
from app.store.database import Database
from app.store.effects import EffectKind

T0 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
LEASE = timedelta(minutes=1)
FLOOD = 3000
A, B, C = 1, 2, 3


def delivery(n: int, installation: int, at: datetime, lane: int = queue.ROUTINE_LANE) -> Any:
    return {
        "id": f"{installation}-{n}",
        "event": "issues",
        "action": "opened",
        "installation_id": installation,
        "repo": f"org{installation}/support",
        "issue_number": n,
        "body": "{}",
        "received_at": at,
        "status": deliveries.PENDING,
        "next_attempt_at": at,
        "lane": lane,
    }


def flood(conn: Connection, installation: int, count: int) -> None:
    """`count` deliveries from one installation, all before anyone else's (a backfill)."""
    rows = [delivery(n, installation, T0 + timedelta(microseconds=n)) for n in range(count)]
    conn.execute(insert(tables.deliveries), rows)


def claims_until(db: Database, delivery_id: str, *, most: int) -> int:
    """How many claims of 50 it takes for `delivery_id` to be claimed (at most `most`)."""
    now = T0 + timedelta(seconds=1)
    for claim in range(1, most + 1):
        batch = db.tx(deliveries.claim_ready, owner=f"w{claim}", now=now, lease=LEASE)
        if delivery_id in {d.id for d in batch}:
            return claim
        db.tx(deliveries.finish_many, [d.id for d in batch], owner=f"w{claim}", now=now)
    return most + 1


def test_one_installations_flood_does_not_hold_up_anothers_delivery(db: Database) -> None:
    db.tx(flood, A, FLOOD)
    late = T0 + timedelta(milliseconds=500)  # B's one delivery came after all of A's
    db.tx(lambda conn: conn.execute(insert(tables.deliveries), [delivery(1, B, late)]))
    assert claims_until(db, "2-1", most=5) == 1  # in the first claim, not the 61st


def test_installations_take_turns_within_a_claim(db: Database) -> None:
    db.tx(flood, A, 100)
    db.tx(flood, B, 3)
    db.tx(flood, C, 2)
    now = T0 + timedelta(seconds=1)
    batch = db.tx(deliveries.claim_ready, owner="w", now=now, lease=LEASE, limit=8)
    # Each one's oldest first, then each one's second, ...; and each one's in arrival order.
    assert [d.installation_id for d in batch] == [A, B, C, A, B, C, A, B]
    assert [d.id for d in batch if d.installation_id == A] == ["1-0", "1-1", "1-2"]


def test_production_down_still_comes_before_every_installations_routine_work(
    db: Database,
) -> None:
    db.tx(flood, A, 200)
    down = delivery(999, A, T0 + timedelta(seconds=0.5), lane=queue.URGENT_LANE)
    db.tx(lambda conn: conn.execute(insert(tables.deliveries), [down, delivery(1, B, T0)]))
    now = T0 + timedelta(seconds=1)
    batch = db.tx(deliveries.claim_ready, owner="w", now=now, lease=LEASE, limit=3)
    assert [d.id for d in batch] == ["1-999", "1-0", "2-1"]


def test_one_installations_effects_do_not_hold_up_anothers(db: Database) -> None:
    def enqueue(conn: Connection, installation: int, n: int) -> None:
        outbox.enqueue(
            conn,
            EffectKind.ADD_LABELS,
            key=f"label:{installation}:{n}",
            payload={"labels": ["x"]},
            now=T0,
            installation_id=installation,
            repo=f"org{installation}/support",
            issue_number=n,
        )

    db.tx(lambda conn: [enqueue(conn, A, n) for n in range(500)])
    db.tx(enqueue, B, 1)
    batch = db.tx(outbox.claim_ready, owner="w", now=T0, lease=LEASE, limit=10)
    assert batch[1].key == "label:2:1"  # right after A's first, not after A's 500
