"""On PostgreSQL a worker in another process hears of new deliveries when they commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from app.config import Settings
from app.engine import wakeups
from app.services import build
from app.store import deliveries, make_engine, migrate, queue
from app.store.database import Database
from app.store.ingest import DeliveryWriter

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def row(n: int, lane: int) -> dict[str, object]:
    return {
        "id": f"d-{n}",
        "event": "issues",
        "action": "opened",
        "installation_id": 1,
        "repo": "acme/support",
        "issue_number": n,
        "body": "{}",
        "received_at": T0,
        "status": deliveries.PENDING,
        "next_attempt_at": T0,
        "body_sha256": f"{n:064d}",
        "lane": lane,
    }


class Kicks:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self.changed = asyncio.Event()

    def __call__(self, *, lane: int = queue.ROUTINE_LANE, stored: int = 0) -> None:
        self.seen.append((lane, stored))
        self.changed.set()

    async def until(self, kick: tuple[int, int]) -> None:
        async with asyncio.timeout(10):
            while kick not in self.seen:
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def listening(url: str, kicks: Kicks) -> AsyncIterator[None]:
    listen = wakeups.listener(url)
    assert listen is not None
    task = asyncio.create_task(listen(kicks))
    try:
        await kicks.until((queue.ROUTINE_LANE, 0))  # listening: it looks once at the start
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_worker_elsewhere_is_woken_by_the_receivers_commit(pg_schema_url: str) -> None:
    engine = make_engine(pg_schema_url)
    migrate(engine)
    writer, kicks = DeliveryWriter(Database(engine)), Kicks()
    try:
        async with listening(pg_schema_url, kicks):
            assert await writer.record(row(1, queue.URGENT_LANE))
            await kicks.until((queue.URGENT_LANE, 1))  # production down: its lane comes along
            assert await writer.record(row(2, queue.ROUTINE_LANE))
            await kicks.until((queue.ROUTINE_LANE, 1))
            assert not await writer.record(row(2, queue.ROUTINE_LANE))  # a redelivery: no news
            await asyncio.sleep(0.2)
            assert kicks.seen.count((queue.ROUTINE_LANE, 1)) == 1
    finally:
        await writer.aclose()
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_store_in_another_schema_wakes_nobody_here(pg_schema_url: str) -> None:
    """Deployments sharing a database (a schema each) wake only their own workers."""
    engine = make_engine(pg_schema_url)
    migrate(engine)
    writer, kicks = DeliveryWriter(Database(engine)), Kicks()
    elsewhere = make_url(pg_schema_url).set(query={}).render_as_string(hide_password=False)
    try:
        async with listening(elsewhere, kicks):
            assert await writer.record(row(1, queue.URGENT_LANE))
            await asyncio.sleep(0.3)
            assert (queue.URGENT_LANE, 1) not in kicks.seen
    finally:
        await writer.aclose()
        engine.dispose()


def test_sqlite_has_no_listener_and_a_strange_notification_wakes_nobody() -> None:
    assert wakeups.listener("sqlite:///sla-bot.db") is None
    kicks = Kicks()
    wakeups.heard("not counts", kicks)
    wakeups.heard("0 3", kicks)
    assert kicks.seen == [(queue.ROUTINE_LANE, 3)]


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_worker_that_never_polls_processes_what_another_process_stored(
    pg_schema_url: str,
) -> None:
    """`sla-bot work` beside `serve`: only the commit's notification can wake this worker."""
    settings = Settings(database_url=pg_schema_url, sla_sweep_interval=0)
    services = build(settings, time=lambda: T0, require_secret=False)
    services.worker.poll = 3600.0
    services.worker.start(0)
    receiver = make_engine(pg_schema_url)  # the other process's receiver
    writer = DeliveryWriter(Database(receiver))
    try:
        payload = {"action": "created", "installation": {"id": 1}}
        stored = {**row(1, queue.ROUTINE_LANE), "event": "ping", "body": json.dumps(payload)}
        assert await writer.record(stored)
        for _ in range(200):
            found = services.db.tx(deliveries.get, "d-1")
            if found is not None and found.status == deliveries.DONE:
                break
            await asyncio.sleep(0.05)
        assert found is not None and found.status == deliveries.DONE
    finally:
        await writer.aclose()
        receiver.dispose()
        await services.aclose()
