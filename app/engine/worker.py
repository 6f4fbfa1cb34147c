"""The in-process worker: processes stored deliveries as they arrive and sweeps on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from app.engine import leases
from app.engine.dispatch import Dispatcher
from app.engine.processor import Processor
from app.jobs.maintenance import Maintenance
from app.jobs.sweep import Sweeper
from app.logs import failure
from app.store.database import Database
from app.store.queue import URGENT_LANE

log = logging.getLogger(__name__)


class Flood:
    """Deliveries arriving faster than `rate` a second (counted over the last `window`):
    while they do, routine processing waits, so that the receiver, which shares the process
    or the machine, answers GitHub first (its 10 s timeout fails a delivery). The wait is
    bounded: `most` seconds after the flood began, processing goes on regardless, as it
    comes. Production-down work never waits (the worker checks its lane first)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        rate: float = 500.0,
        window: float = 0.1,
        most: float = 5.0,
    ) -> None:
        self._clock = clock
        self._window = window
        self._limit = rate * window
        self._most = most
        self._arrivals: deque[tuple[float, int]] = deque()
        self._count = 0
        self._began: float | None = None

    def arrived(self, count: int = 1) -> None:
        now = self._clock()
        self._arrivals.append((now, count))
        self._count += count
        self._look(now)

    def wait(self) -> float:
        """How long routine processing should wait before looking again; 0: go now."""
        now = self._clock()
        self._look(now)
        if self._began is None or now - self._began >= self._most:
            return 0.0
        return min(self._window / 4, self._began + self._most - now)

    def _look(self, now: float) -> None:
        while self._arrivals and self._arrivals[0][0] <= now - self._window:
            self._count -= self._arrivals.popleft()[1]
        if self._count < self._limit:
            self._began = None  # a lull: the flood is over
        elif self._began is None:
            self._began = now


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
        flood: Flood | None = None,
    ) -> None:
        self._db = db
        self._processor = processor
        self._dispatcher = dispatcher
        self._sweeper = sweeper
        self._clock = clock
        self.poll = poll  # the fallback wake-up; new deliveries and effects kick at once
        self.flood = flood or Flood()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # production down stored: a flood's wait ends at once
        self._effects = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._senders: dict[str, asyncio.Task[None]] = {}  # target -> its sending task
        self._owed: set[str] = set()  # targets kicked since their sender last looked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        # A production-down delivery was stored and no batch has claimed it yet, or one is
        # being processed: routine work steps aside (the dispatcher's routine GitHub writes,
        # the rest of a routine batch of deliveries).
        self._urgent_stored = False
        self._urgent_in_hand = False
        dispatcher.urgent_waiting = self.urgent_waiting

    def kick(self, *, urgent: bool = False, stored: int = 0) -> None:
        """Look for ready work now. `stored`: deliveries the receiver has just stored (they
        owe no effects before they are processed, so the effects loop is not woken; a flood
        of them makes routine processing wait, see `Flood`); otherwise (a start, a button
        pressed, a test moving time) effects are looked for too. `urgent`: one stored is
        production down."""
        if stored:
            self.flood.arrived(stored)
        else:
            self._effects.set()
        if urgent:
            self._urgent_stored = True
            self._urgent.set()
        self._wake.set()

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

    async def _process_ready(self, *, yielding: bool = False) -> int:
        """`yielding`: routine work waits while deliveries flood in (`Flood`)."""
        async with self._lock:
            done = 0
            while True:
                while yielding and not self._urgent_stored and (pause := self.flood.wait()):
                    await _until(self._urgent, pause)
                self._urgent_stored = False  # this claim takes the urgent lane first
                self._urgent.clear()
                token, batch = await self._processor.claim(self._clock())
                if not batch:
                    return done

                async def renew(token: str = token) -> int:
                    return await self._processor.renew(token, self._clock())

                self._urgent_in_hand = batch[0].lane == URGENT_LANE
                try:
                    async with leases.heartbeat(renew, self._processor.beat):
                        done += await self._processor.process_batch(
                            batch,
                            token,
                            self._clock,
                            cut_in=lambda: self._cut_in(yielding),
                            done=self._window_done,
                        )
                finally:
                    self._urgent_in_hand = False

    def _cut_in(self, yielding: bool) -> bool:
        """The rest of a routine batch goes back: production down arrived, or a flood did."""
        return self._urgent_stored or (yielding and self.flood.wait() > 0)

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
        tasks = [*self._tasks, *self._senders.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _deliveries_loop(self) -> None:
        while True:
            await _until(self._wake, self.poll)
            self._wake.clear()
            try:
                await self._process_ready(yielding=True)
            except Exception as exc:  # the loop must outlive a database hiccup
                failure(log, "delivery worker failed; retrying", exc)

    async def _effects_loop(self) -> None:
        """Each target (GitHub, Slack, PagerDuty) sends in a task of its own: one that waits
        out a timeout or an outage holds nobody else's sends."""
        while True:
            await _until(self._effects, self.poll)
            self._effects.clear()
            # Only the targets this process has credentials for: the others' effects stay
            # owed (pending) for a process that can send them.
            targets = self._dispatcher.sending()
            self._owed.update(targets)
            for target in targets:
                if target not in self._senders:
                    self._senders[target] = asyncio.create_task(self._send(target))

    async def _send(self, target: str) -> None:
        """Drain `target` for as long as it is owed a look (a kick while it was draining
        owes one more: the effect may have come after its last claim)."""
        try:
            while target in self._owed:
                self._owed.discard(target)
                try:
                    if await self._dispatcher.drain_target(target):
                        # A send may owe another target's effect (a Slack request's message
                        # read, then its GitHub issue opened): every target looks again.
                        self._effects.set()
                except Exception as exc:
                    failure(log, "effects worker failed; retrying", exc, target=target)
        finally:
            del self._senders[target]

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            try:
                async with self._lock:
                    await self._sweeper.sweep(self._clock())
            except Exception as exc:
                failure(log, "sweep failed; retrying next interval", exc)
            await asyncio.sleep(interval)


async def _until(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event`, `seconds` at most. Not `asyncio.wait_for`: on Python 3.11 a task
    cancelled right as it starts one can be left waiting for ever (seen: a worker process
    told to stop as it started never ended); `asyncio.timeout` runs no inner task."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
