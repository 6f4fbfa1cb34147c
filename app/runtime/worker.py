"""The in-process worker: processes stored deliveries as they arrive and sweeps on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from app.runtime import leases
from app.runtime.dispatch import Dispatcher
from app.runtime.maintenance import Maintenance
from app.runtime.processor import Processor
from app.runtime.sweep import Sweeper
from app.store.database import Database
from app.store.queue import URGENT_LANE

log = logging.getLogger(__name__)


class Worker:
    """Woken by the receiver after each stored delivery; polls too, for crash recovery."""

    def __init__(
        self,
        *,
        db: Database,
        processor: Processor,
        dispatcher: Dispatcher,
        sweeper: Sweeper,
        clock: Callable[[], datetime],
        poll: float = 2.0,  # the fallback look for work a dead replica left (its lease lapsed)
    ) -> None:
        self._db = db
        self._processor = processor
        self._dispatcher = dispatcher
        self._sweeper = sweeper
        self._clock = clock
        self.poll = poll  # the fallback wake-up; new deliveries and effects kick at once
        self._wake = asyncio.Event()
        self._effects = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        # A production-down delivery was stored and no batch has claimed it yet, or one is
        # being processed: routine work steps aside (the dispatcher's routine GitHub writes,
        # the rest of a routine batch of deliveries).
        self._urgent_stored = False
        self._urgent_in_hand = False
        dispatcher.urgent_waiting = self.urgent_waiting

    def kick(self, *, urgent: bool = False) -> None:
        """Look for ready deliveries and effects now (a new delivery, a test moving time);
        `urgent`: the new delivery is production down."""
        self._urgent_stored |= urgent
        self._wake.set()
        self._effects.set()

    def urgent_waiting(self) -> bool:
        return self._urgent_stored or self._urgent_in_hand

    def kick_threadsafe(self) -> None:
        """`kick` from another thread (an operator command in tests, say)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.kick)

    async def drain(self) -> int:
        """Process every ready delivery in arrival order, then send every ready effect
        (`sla-bot sweep` and tests use this; `serve` runs the two as separate loops)."""
        done = await self._process_ready()
        await self._dispatcher.drain()
        return done

    async def _process_ready(self) -> int:
        async with self._lock:
            done = 0
            while True:
                self._urgent_stored = False  # this claim takes the urgent lane first
                token, batch = await self._processor.claim(self._clock())
                if not batch:
                    return done

                async def renew(token: str = token) -> int:
                    return await self._processor.renew(token, self._clock())

                self._urgent_in_hand = batch[0].lane == URGENT_LANE
                try:
                    async with leases.heartbeat(renew, self._processor.beat):
                        done += await self._processor.process_batch(
                            batch, token, self._clock, cut_in=lambda: self._urgent_stored,
                            done=self._window_done,
                        )  # fmt: skip
                finally:
                    self._urgent_in_hand = False

    def _window_done(self) -> None:
        if self._urgent_in_hand:  # the urgent lane comes first: its effects are queued
            self._dispatcher.urgent_queued = True
            self._urgent_in_hand = False
        self._effects.set()  # its effects go out while the next window is processed

    def start(self, sweep_interval: float, maintenance: Maintenance | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._deliveries_loop(), name="deliveries"))
        self._tasks.append(asyncio.create_task(self._effects_loop(), name="effects"))
        if maintenance is not None:
            self._tasks.append(asyncio.create_task(maintenance.loop(), name="maintenance"))
        if sweep_interval > 0:
            self._tasks.append(asyncio.create_task(self._sweep_loop(sweep_interval), name="sweep"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _deliveries_loop(self) -> None:
        while True:
            await _until(self._wake, self.poll)
            self._wake.clear()
            try:
                await self._process_ready()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("delivery worker failed; retrying")

    async def _effects_loop(self) -> None:
        while True:
            await _until(self._effects, self.poll)
            self._effects.clear()
            try:
                await self._dispatcher.drain()
            except Exception:
                log.exception("effects worker failed; retrying")

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            try:
                async with self._lock:
                    await self._sweeper.sweep(self._clock())
            except Exception:
                log.exception("sweep failed; retrying next interval")
            await asyncio.sleep(interval)


async def _until(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event`, `seconds` at most. Not `asyncio.wait_for`: on Python 3.11 a task
    cancelled right as it starts one can be left waiting for ever (seen: a worker process
    told to stop as it started never ended); `asyncio.timeout` runs no inner task."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
