"""Retention: processed deliveries, finished effects and finished jobs are deleted after
SLA_RETENTION_DAYS by the maintenance loop, in small batches, on the injected time; clocks
never are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, insert, select

from app.cli.main import main, reach
from app.jobs.maintenance import Maintenance
from app.store import clocks, jobs, retention
from app.store.database import Database
from app.store.tables import clocks as clock_rows
from app.store.tables import deliveries, outbox
from app.store.tables import jobs as job_rows
from tests.harness import MovableTime

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def seed(conn: Connection, age: timedelta, status: str, effect: str, n: int) -> None:
    """A delivery and an effect of this age, and a clock started then."""
    at = NOW - age
    conn.execute(
        insert(deliveries).values(
            id=f"d-{n}",
            event="issues",
            action="opened",
            body="{}",
            received_at=at,
            status=status,
            body_sha256=f"sha-{n}",
        )
    )
    conn.execute(
        insert(outbox).values(
            key=f"k-{n}",
            target="slack",
            kind="alert",
            payload=json.dumps({}),
            status=effect,
            next_attempt_at=at,
            created_at=at,
        )
    )
    clocks.start(
        conn,
        installation_id=1,
        repo="acme/support",
        issue_number=n,
        kind="response",
        priority="urgent",
        request_type="problem",
        started_at=at,
        due_at=at + timedelta(hours=1),
        issue_title=f"Request {n}",
        issue_url=f"https://github.com/acme/support/issues/{n}",
        issue_author="kim",
    )


def ids(db: Database) -> tuple[list[str], list[str], int]:
    def read(conn: Connection) -> tuple[list[str], list[str], int]:
        kept = sorted(conn.execute(select(deliveries.c.id)).scalars())
        effects = sorted(conn.execute(select(outbox.c.key)).scalars())
        return (
            kept,
            effects,
            conn.execute(select(func.count()).select_from(clock_rows)).scalar_one(),
        )

    return db.tx(read)


def purging(db: Database, *, retention_days: int) -> Maintenance:
    """Upkeep that only deletes what is past `retention_days` (no redelivery, no reconcile)."""
    return Maintenance(
        db=db,
        github=None,
        time=MovableTime(NOW),
        redeliver_every=0,
        reconcile_every=0,
        retention_days=retention_days,
    )


@pytest.mark.anyio
async def test_a_month_old_delivery_and_its_sent_alert_are_deleted_and_clocks_kept(
    db: Database,
) -> None:
    db.tx(seed, timedelta(days=31), "done", "sent", 1)  # past the retention: deleted
    db.tx(seed, timedelta(days=31), "dead", "pending", 2)  # dead delivery, owed alert: kept
    db.tx(seed, timedelta(days=40), "done", "dead", 3)  # a dead effect is finished: deleted
    db.tx(seed, timedelta(days=29), "done", "sent", 4)  # inside the retention: kept
    time = MovableTime(NOW)
    upkeep = Maintenance(
        db=db, github=None, time=time, redeliver_every=600, reconcile_every=600, retention_days=30
    )
    await upkeep.run_once()
    assert ids(db) == (["d-2", "d-4"], ["k-2", "k-4"], 4)  # every clock stays: the report
    time.now = NOW + timedelta(days=2)  # two days on, d-4 and k-4 are past it too
    await upkeep.run_once()
    assert ids(db) == (["d-2"], ["k-2"], 4)


@pytest.mark.anyio
async def test_jobs_that_ended_a_month_ago_are_deleted_and_pending_ones_kept(db: Database) -> None:
    for n, (status, ended) in enumerate(
        [(jobs.DONE, 31), (jobs.DEAD, 40), (jobs.DONE, 29), (jobs.PENDING, None)]
    ):
        key = f"periodic:reconcile:acme/support:{n}"
        db.tx(jobs.reconcile, 1, "acme/support", key=key, now=NOW - timedelta(days=90))
        finished_at = None if ended is None else NOW - timedelta(days=ended)
        db.tx(
            lambda conn, key=key, status=status, at=finished_at: conn.execute(
                job_rows.update().where(job_rows.c.key == key).values(status=status, finished_at=at)
            )
        )
    upkeep = purging(db, retention_days=30)
    assert await upkeep.purge(NOW) == 2
    kept = db.tx(lambda conn: sorted(conn.execute(select(job_rows.c.key)).scalars()))
    assert kept == ["periodic:reconcile:acme/support:2", "periodic:reconcile:acme/support:3"]


@pytest.mark.anyio
async def test_a_long_backlog_is_deleted_in_small_batches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 8):
        db.tx(seed, timedelta(days=90), "done", "sent", n)
    monkeypatch.setattr(retention, "BATCH", 3)
    calls = []
    purge = retention.purge_deliveries

    def counted(conn: Connection, before: datetime, limit: int = 3) -> int:
        calls.append(limit)
        return purge(conn, before, limit)

    monkeypatch.setattr(retention, "purge_deliveries", counted)
    upkeep = purging(db, retention_days=30)
    assert await upkeep.purge(NOW) == 14
    assert len(calls) == 3  # 3 + 3 + 1 deliveries, each batch its own transaction
    assert ids(db)[:2] == ([], [])


@pytest.mark.anyio
async def test_retention_zero_keeps_everything(db: Database) -> None:
    db.tx(seed, timedelta(days=3650), "done", "sent", 1)
    upkeep = purging(db, retention_days=0)
    await upkeep.run_once()
    assert ids(db) == (["d-1"], ["k-1"], 1)


def test_deliveries_says_how_far_back_redelivery_reaches(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Database,
) -> None:
    assert reach(30, NOW) == (
        "processed deliveries, finished effects and jobs are kept 30 days (SLA_RETENTION_DAYS): "
        "--replay reaches back to 2026-12-01"
    )
    assert "kept for ever" in reach(0, NOW)
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SLA_RETENTION_DAYS", "7")
    assert main(["deliveries", "--failed"]) == 0
    assert "kept 7 days (SLA_RETENTION_DAYS): --replay reaches back to" in capsys.readouterr().out
