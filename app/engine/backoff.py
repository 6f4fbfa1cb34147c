"""Stored retry schedules: when work that failed is tried next, written to the store (the
outbox's next attempt), never slept through in line. In-process retries use stamina."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    """Exponential waits between attempts: `first`, then `factor` times longer each time, at
    most `cap`; after `attempts` failed attempts the work is given up."""

    first: timedelta
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    attempts: int = 12

    def delay(self, attempt: int) -> timedelta | None:
        """The wait after failed attempt number `attempt` (from 1), or None: give up."""
        if attempt >= self.attempts:
            return None
        seconds = self.first.total_seconds() * self.factor ** max(0, attempt - 1)
        return min(timedelta(seconds=seconds), self.cap)

    def next_attempt(self, now: datetime, attempt: int) -> datetime | None:
        """When to try again after failed attempt `attempt` at `now`, or None: give up."""
        wait = self.delay(attempt)
        return None if wait is None else now + wait


# The outbox: 5 s, 10 s, 20 s ... up to an hour, twelve attempts (about five hours in all).
OUTBOX = Backoff(first=timedelta(seconds=5))
