"""The in-process worker: processes stored deliveries as they arrive, sends their effects, runs
the jobs, and sweeps on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from app.engine import leases
from app.engine.dispatch import Dispatcher
from app.engine.processor import Processor
from app.engine.runner import JobRunner
from app.engine.scheduler import Kick, Scheduler
from app.jobs.maintenance import Maintenance
from app.jobs.sweep import Sweeper
from app.logs import failure
from app.store.database import Database
from app.store.queue import ROUTINE_LANE

log = logging.getLogger(__name__)


class Worker:
    """Woken by the receiver after each stored delivery; polls too, for crash recovery."""

    def __init__(
        self,
        *,
        db: Database,
        processor: Processor,
        dispatcher: Dispatcher,
        jobs: JobRunner,
        sweeper: Sweeper,
        scheduler: Scheduler,
        time: Callable[[], datetime],
        poll: float = 2.0,  # the fallback look for work a dead replica left (its lease lapsed)
        listen: Callable[[Kick], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """`listen`: kicks for the deliveries other processes store (PostgreSQL's NOTIFY)."""
        self._db = db
        self._processor = processor
        self._dispatcher = dispatcher
        self._jobs = jobs
        self._sweeper = sweeper
        self.scheduler = scheduler
        self._time = time
        self.poll = poll  # the fallback wake-up; new deliveries and effects kick at once
        self._tasks: list[asyncio.Task[None]] = []
        self._senders: dict[str, asyncio.Task[None]] = {}  # target -> its sending task
        self._owed: set[str] = set()  # targets kicked since their sender last looked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._listen = listen

    def kick(self, *, lane: int = ROUTINE_LANE, stored: int = 0) -> None:
        """Look for ready work now. `stored`: deliveries the receiver has just stored, of
        `lane` (they owe no effects before they are processed, so only the deliveries loop
        looks); otherwise (a start, a button pressed, a test moving time) effects too."""
        self.scheduler.stored(lane, stored)
        if not stored:
            self.scheduler.look()

    def kick_threadsafe(self) -> None:
        """`kick` from another thread (an operator command in tests, say)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.kick)

    async def drain(self) -> int:
        """Process every ready delivery in claim order, send every ready effect, run every
        due job and send what they decided (`sla-bot sweep` and tests use this; `serve` runs
        them as separate loops)."""
        done = await self._process_ready()
        await self._dispatcher.drain()
        if await self._jobs.drain():
            await self._dispatcher.drain()
        return done

    async def _process_ready(self, *, yielding: bool = False) -> int:
        """`yielding`: routine work waits while the receiver needs the process (Scheduler)."""
        scheduler = self.scheduler
        async with self._lock:
            done = 0
            while True:
                if yielding:
                    await scheduler.yield_to_receiver()
                scheduler.claiming()
                claim = await self._processor.claim(self._time())
                if not claim.batch:
                    return done

                async def renew(token: str = claim.token) -> int:
                    return await self._processor.renew(token, self._time())

                with scheduler.holding(claim.batch[0].lane):
                    async with leases.heartbeat(renew, self._processor.beat):
                        done += await self._processor.process_batch(
                            claim,
                            self._time,
                            cut_in=lambda: scheduler.cut_in(yielding),
                            done=scheduler.effects_queued,
                        )

    def start(self, sweep_interval: float, maintenance: Maintenance | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self._deliveries_loop(), name="deliveries"))
        self._tasks.append(asyncio.create_task(self._effects_loop(), name="effects"))
        self._tasks.append(asyncio.create_task(self._jobs.loop(), name="jobs"))
        if self._listen is not None:
            self._tasks.append(asyncio.create_task(self._listen(self.kick), name="wake-ups"))
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
            await self.scheduler.deliveries_due(self.poll)
            try:
                await self._process_ready(yielding=True)
            except Exception as exc:  # the loop must outlive a database hiccup
                failure(log, "delivery worker failed; retrying at the next look", exc)

    async def _effects_loop(self) -> None:
        """Each target (GitHub, Slack, PagerDuty) sends in a task of its own: one that waits
        out a timeout or an outage holds nobody else's sends."""
        while True:
            await self.scheduler.effects_due(self.poll)
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
                        self.scheduler.wake_effects()
                except Exception as exc:
                    failure(
                        log, "effects worker failed; retrying at the next look", exc, target=target
                    )
        finally:
            del self._senders[target]

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            try:
                async with self._lock:
                    await self._sweeper.sweep(self._time())
            except Exception as exc:
                failure(log, "sweep failed; retrying next interval", exc)
            await asyncio.sleep(interval)
