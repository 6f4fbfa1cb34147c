"""Paused time: what a clock waiting on the customer does not count, as pure arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# The time a clock's calendar counts between two moments (open time, or wall-clock time).
Measure = Callable[[datetime, datetime], timedelta]


@dataclass(frozen=True)
class Pauses:
    """A clock's paused time: closed spans summed, the open one if paused now, and where the
    last closed span ended (a pause dated before it, delivered late, starts there instead:
    no second is paused twice)."""

    paused: timedelta = timedelta(0)
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_paused(self) -> bool:
        return self.since is not None

    def pause(self, at: datetime) -> Pauses:
        """Paused from `at`; a second pause keeps the first one's start (no time lost)."""
        if self.since is not None:
            return self
        return replace(self, since=at if self.until is None else max(at, self.until))

    def resume(self, at: datetime, measure: Measure) -> Pauses:
        """Running again from `at`; the span counts once. A resume that is not paused (or
        one dated before its pause, out of order) adds nothing."""
        if self.since is None:
            return self
        if at <= self.since:
            return Pauses(self.paused, None, max(self.since, self.until or self.since))
        return Pauses(self.paused + measure(self.since, at), None, at)

    def total(self, at: datetime, measure: Measure) -> timedelta:
        """Paused time up to `at`, the open span included."""
        return self.resume(at, measure).paused

    def counted(self, start: datetime, at: datetime, measure: Measure) -> timedelta:
        """Time counted against the target from `start` to `at`: never the paused time."""
        return max(measure(start, at) - self.total(at, measure), timedelta(0))
