"""Retry schedules: when work that failed is tried next, written to the store (the outbox's
and the deliveries' next attempt), never slept through in line; the one wait slept through is
start-up's for the store (app/store/connect.py). In-process retries of calls use stamina
(app/github/client.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    """The wait after each failed attempt, in order; after the last the work is given up."""

    waits: tuple[timedelta, ...]

    @classmethod
    def exponential(
        cls,
        first: timedelta,
        *,
        factor: float = 2.0,
        cap: timedelta = timedelta(hours=1),
        attempts: int = 12,
    ) -> Backoff:
        """`first`, then `factor` times longer each time, at most `cap`, `attempts` in all."""
        waits, wait = [], min(first, cap)
        for _ in range(attempts - 1):
            waits.append(wait)
            wait = min(wait * factor, cap)  # capped as it grows: a long schedule never overflows
        return cls(tuple(waits))

    def delay(self, attempt: int) -> timedelta | None:
        """The wait after failed attempt number `attempt` (from 1), or None: give up."""
        return self.waits[attempt - 1] if 1 <= attempt <= len(self.waits) else None

    def next_attempt(self, now: datetime, attempt: int) -> datetime | None:
        """When to try again after failed attempt `attempt` at `now`, or None: give up."""
        wait = self.delay(attempt)
        return None if wait is None else now + wait


# The outbox: 5 s, 10 s, 20 s ... up to an hour, twelve attempts (about five hours in all).
OUTBOX = Backoff.exponential(timedelta(seconds=5))
# Deliveries whose processing failed (README, Delivery guarantees); then dead, with the error.
DELIVERIES = Backoff(
    (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
)
