"""Claims in hand: a fencing token per claimed batch, kept alive by a heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

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


@contextlib.asynccontextmanager
async def heartbeat(renew: Callable[[], Awaitable[object]], every: float) -> AsyncIterator[None]:
    """Call `renew` every `every` seconds while the block runs (work in hand stays claimed;
    a dead worker stops beating and its claims lapse within one lease)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await renew()
            except Exception:  # the store hiccuped; the next beat tries again
                log.warning("lease renewal failed", exc_info=True)

    task = asyncio.create_task(beat(), name="lease-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
