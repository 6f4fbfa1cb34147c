"""Claims in hand: a fencing token per claimed batch, kept alive by a heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from app.logs import failure

log = logging.getLogger(__name__)


def token(owner: str) -> str:
    """A new fencing token for one claim: the worker's name plus a nonce.

    Each batch is claimed under its own token, so a worker that lost a claim (its lease ran
    out, another worker took the row) can never act on it again, even after claiming anew.
    """
    return f"{owner}:{secrets.token_hex(6)}"


def beat_interval(lease: timedelta) -> float:
    """Renew at a third of the lease: two beats may be missed before a claim lapses."""
    return max(0.05, lease.total_seconds() / 3)


class Fence:
    """When a batch's claims must be re-checked before acting on them.

    Another worker may take a row only once its lease has run out, so for a third of the
    lease after the claim, or after a heartbeat renewed it in time, the claims surely hold:
    a wave of work sent then needs no statement to re-check them. A renewal counts only if
    it came while the claims still held (a third of the lease to spare, for clock skew):
    after a gap, another worker may have taken rows over, and every wave is re-checked.
    """

    def __init__(self, time: Callable[[], datetime], lease: timedelta) -> None:
        self._time = time
        self._lease = lease
        self._margin = lease / 3
        self._held_until: datetime | None = None

    def claimed(self) -> datetime:
        """The time to claim at: the claims hold for a lease from then."""
        now = self._time()
        self._held_until = now + self._lease
        return now

    def renewed(self, at: datetime) -> None:
        """The heartbeat renewed every row still held at `at`."""
        if self._held_until is not None and at < self._held_until - self._margin:
            self._held_until = at + self._lease

    def sure(self) -> bool:
        """The claims were taken or renewed moments ago: none can have been lost."""
        held = self._held_until
        return held is not None and self._time() < held - 2 * self._margin


@contextlib.asynccontextmanager
async def heartbeat(renew: Callable[[], Awaitable[object]], every: float) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the block runs (work in hand stays claimed;
    a dead worker stops beating and its claims lapse within one lease)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await renew()
            except Exception as exc:  # the store hiccuped; the next beat tries again
                failure(log, "lease renewal failed", exc)

    task = asyncio.create_task(beat(), name="lease-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
