"""Group commit for the receiver: concurrent deliveries share one transaction, each answer
waits for the commit that made its delivery durable."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import Connection, text

from app.store import queue
from app.store.database import Database
from app.store.tables import deliveries

Row = dict[str, Any]


# Workers in other processes LISTEN here (app/engine/wakeups.py), PostgreSQL only: the
# prefix of a channel per schema (a store), so deployments sharing a database wake only theirs.
CHANNEL = "sla_bot_deliveries:"


def _insert(conn: Connection, rows: list[Row]) -> set[Any]:
    # A clash on the id (GitHub's redelivery) or on the body's digest (a replay): stored once.
    inserted = queue.insert_new(conn, deliveries, rows, "id", any_key=True)
    announce(conn, [row.get("lane", queue.ROUTINE_LANE) for row in rows if row["id"] in inserted])
    return inserted


def announce(conn: Connection, lanes: list[int]) -> None:
    """In the transaction that stores deliveries of these `lanes`: tell every listening worker,
    once it commits ("urgent routine" counts). Nothing on SQLite (one process serves it)."""
    if conn.dialect.name != "postgresql" or not lanes:
        return
    urgent = lanes.count(queue.URGENT_LANE)
    conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": f"{urgent} {len(lanes) - urgent}"})


_NOTIFY = text("SELECT pg_notify(:channel || current_schema(), :payload)")


class DeliveryWriter:
    """Stores deliveries in batches: while one batch commits, the next one gathers (and on
    PostgreSQL commits beside it)."""

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[tuple[Row, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(db.receiver_threads)  # batches committing at once
        self._inflight: set[asyncio.Task[None]] = set()
        self.pending = 0  # deliveries whose answer waits for their commit

    async def record(self, row: Row) -> bool:
        """Store one delivery row; False when its id is already stored (a redelivery)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="delivery-writer")
        self._wake.set()
        self.pending += 1
        try:
            return await future
        finally:
            self.pending -= 1

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Let requests that are already being read join this batch: one commit for many.
            for _ in range(4):
                await asyncio.sleep(0)
            while self._waiting:
                await self._slots.acquire()  # those arriving meanwhile join this batch
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                task = asyncio.create_task(self._commit_then_free(batch))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _commit_then_free(self, batch: list[tuple[Row, asyncio.Future[bool]]]) -> None:
        try:
            await self._commit(batch)
        finally:
            self._slots.release()

    async def _commit(self, batch: list[tuple[Row, asyncio.Future[bool]]]) -> None:
        first: dict[Any, Row] = {}
        digests: set[Any] = set()
        for row, _ in batch:
            digest = row.get("body_sha256")
            if row["id"] in first or (digest is not None and digest in digests):
                continue  # the same delivery twice in one batch: one insert
            first[row["id"]] = row
            digests.add(digest)
        try:
            inserted = await self._db.run_receiving(_insert, list(first.values()))
        except Exception as exc:
            if len(batch) > 1:  # one bad row must not fail its neighbours: each alone
                for one in batch:
                    await self._commit([one])
                return
            for _, future in batch:  # the store is down, or this row is: answer 5xx
                if not future.done():
                    future.set_exception(exc)
            return
        for row, future in batch:
            if not future.done():
                stored = row["id"] in inserted and first.get(row["id"]) is row
                future.set_result(stored)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Batches already committing finish: their requests get their answers.
        await asyncio.gather(*self._inflight, return_exceptions=True)
