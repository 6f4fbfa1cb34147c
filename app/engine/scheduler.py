"""What runs when: production-down work first, the receiver first in a burst, and the
wake-ups of the worker's loops. Built once per process and handed to the worker and the
dispatcher, which ask it rather than each other."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from app.store import outbox
from app.store.queue import ROUTINE_LANE, URGENT_LANE


class Kick(Protocol):
    """`Worker.kick`: deliveries of `lane` were stored (`stored`), or look for all work."""

    def __call__(self, *, lane: int = ROUTINE_LANE, stored: int = 0) -> None: ...


@dataclass(frozen=True)
class Yielding:
    """When routine processing steps aside for the receiver that shares its process: while
    `in_flight` or more deliveries are being read or stored, or the event loop runs `lag`
    seconds late (GitHub fails a delivery not answered within 10 s), for `most` seconds at
    most; then it goes on beside the receiver. `every`: how often the lag is measured."""

    in_flight: int = 8
    lag: float = 0.05
    most: float = 5.0
    every: float = 0.02


class Scheduler:
    """Urgent work pending, yielding to the receiver, and the loops' wake-ups, in one place.

    Production down is pending from the moment one is stored until the effects of the batch
    that processed it are queued and every sending loop has claimed again: meanwhile routine
    deliveries and routine writes not yet under way are given back (not failed), so the
    page's label and message are the next sends."""

    def __init__(
        self,
        yielding: Yielding | None = None,
        *,
        in_flight: Callable[[], int] = lambda: 0,
        monotonic: Callable[[], float] = time.monotonic,
        tell: Callable[[bool], None] | None = None,
    ) -> None:
        """`in_flight`: the deliveries the receiver in this process has in hand. `tell`: a
        worker in another process (`WorkerProcess.receiver_busy`) is told when the receiver
        here starts or stops needing the machine (`watch`)."""
        self.yielding = yielding or Yielding()
        self._in_flight = in_flight
        self._monotonic = monotonic
        self._tell = tell
        self._told = False
        self._busy_elsewhere = False  # the receiver in another process said it is busy
        self._lag = 0.0
        self._busy_since: float | None = None
        self._deliveries = asyncio.Event()
        self._effects = asyncio.Event()
        self._jobs = asyncio.Event()
        self._urgent = asyncio.Event()  # production down stored: a wait ends at once
        self._urgent_stored = False  # stored, not claimed yet
        self._urgent_in_hand = False  # claimed, its effects not queued yet
        self._urgent_queued: set[str] = set()  # targets that have not claimed since

    # -- wake-ups --

    def stored(self, lane: int = ROUTINE_LANE, count: int = 1) -> None:
        """Deliveries were stored: the deliveries loop looks (they owe no effects yet)."""
        if lane == URGENT_LANE:
            self._urgent_stored = True
            self._urgent.set()
        if count:
            self._deliveries.set()

    def look(self) -> None:
        """Look for ready deliveries, effects and jobs (a start, a click, a test moving time)."""
        self._deliveries.set()
        self._effects.set()
        self._jobs.set()

    def wake_effects(self) -> None:
        """The sending loops look (a send may owe another target's effect)."""
        self._effects.set()

    def effects_queued(self, jobs: bool = False) -> None:
        """A wave's effects are stored: the sending loops look; the job runner too when the
        wave planned a job (an installation's reconcile), and only then: an empty claim of
        jobs after every wave was a statement or two a wave for nothing."""
        if self._urgent_in_hand:  # its effects are queued: each target claims them next
            self._urgent_queued = set(outbox.TARGETS)
            self._urgent_in_hand = False
        self._effects.set()
        if jobs:
            self._jobs.set()

    async def deliveries_due(self, poll: float) -> None:
        """Until deliveries were stored (or `poll` seconds: work a dead replica left)."""
        await until(self._deliveries, poll)
        self._deliveries.clear()

    async def effects_due(self, poll: float) -> None:
        await until(self._effects, poll)
        self._effects.clear()

    async def jobs_due(self, poll: float) -> None:
        await until(self._jobs, poll)
        self._jobs.clear()

    # -- production down first --

    def claiming(self) -> None:
        """A deliveries claim is made now: it takes the urgent lane first. The sending loops
        that stepped aside for it look again (a second word of the same delivery, from the
        pipe and from PostgreSQL's NOTIFY, must not leave them waiting for nothing)."""
        if self._urgent_stored:
            self._effects.set()
        self._urgent_stored = False
        self._urgent.clear()

    @contextlib.contextmanager
    def holding(self, lane: int) -> Iterator[None]:
        """A claimed batch of `lane` is being processed."""
        self._urgent_in_hand = lane == URGENT_LANE
        try:
            yield
        finally:
            self._urgent_in_hand = False

    def urgent_pending(self) -> bool:
        """Production down is stored and not processed yet: routine sends wait for it."""
        return self._urgent_stored or self._urgent_in_hand

    def target_claiming(self, target: str) -> None:
        """`target`'s loop claims now: it takes the urgent lane first."""
        self._urgent_queued.discard(target)

    def steps_aside(self, target: str, urgent: bool) -> bool:
        """A routine send to `target` not under way yet waits for the next claim."""
        return not urgent and (self.urgent_pending() or target in self._urgent_queued)

    def cut_in(self, yielding: bool) -> bool:
        """The rest of a routine batch of deliveries goes back: production down arrived, or
        (`yielding`) the receiver needs the process."""
        return self._urgent_stored or (yielding and self.receiver_wait() > 0)

    # -- the receiver first --

    async def yield_to_receiver(self) -> None:
        """Wait while the receiver needs the process (bounded), unless production down comes."""
        while not self._urgent_stored and (pause := self.receiver_wait()):
            await until(self._urgent, pause)

    def receiver_wait(self) -> float:
        """How long routine processing should wait before looking again; 0: go now."""
        now, rule = self._monotonic(), self.yielding
        if not self._busy_elsewhere and not self.receiver_busy_here():
            self._busy_since = None  # a lull: the burst is over
            return 0.0
        if self._busy_since is None:
            self._busy_since = now
        if now - self._busy_since >= rule.most:
            return 0.0
        return min(rule.every, self._busy_since + rule.most - now)

    def receiver_busy_here(self) -> bool:
        rule = self.yielding
        return self._in_flight() >= rule.in_flight or self._lag >= rule.lag

    def receiver_busy(self, busy: bool) -> None:
        """The receiver in another process (`serve`'s) started or stopped being busy."""
        self._busy_elsewhere = busy

    async def watch(self) -> None:
        """Measure how late the event loop runs timers (the receiver's answers wait as long),
        and tell a worker in another process when the receiver starts or stops being busy."""
        loop = asyncio.get_running_loop()
        every = self.yielding.every
        while True:
            began = loop.time()
            await asyncio.sleep(every)
            self._lag = max(0.0, loop.time() - began - every)
            busy = self.receiver_busy_here()
            if self._tell is not None and busy != self._told:
                self._told = busy
                self._tell(busy)

    def note_lag(self, seconds: float) -> None:
        """Set the event loop's lateness (tests; `watch` does it while serving)."""
        self._lag = seconds


async def until(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event`, `seconds` at most. Not `asyncio.wait_for`: on Python 3.11 a task
    cancelled right as it starts one can be left waiting for ever (seen: a worker process
    told to stop as it started never ended); `asyncio.timeout` runs no inner task."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
