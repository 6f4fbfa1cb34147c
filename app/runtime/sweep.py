"""The sweep: due clocks breach once, early warnings go out in open hours, the outbox drains."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app import effects, oncall, tracking
from app.domain import Priority
from app.metrics import Metrics
from app.notify.messages import AlertKind
from app.policies import PolicyLoader
from app.runtime.dispatch import Dispatcher
from app.sla.clock import ClockEvent, ClockKind
from app.sla.policy import Policy
from app.store import clocks
from app.store.clocks import Clock
from app.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    breached: int
    warned: int
    sent: int
    escalated: int = 0


class Sweeper:
    """One pass: read due clocks by index, decide, then send what the outbox holds."""

    def __init__(
        self, *, db: Database, policies: PolicyLoader, dispatcher: Dispatcher,
        metrics: Metrics | None = None,
    ):  # fmt: skip
        self._db = db
        self._metrics = metrics
        self._policies = policies
        self._dispatcher = dispatcher

    async def sweep(self, now: datetime) -> SweepResult:
        """Decide as of `now` (the evaluation time); the outbox drains on the process clock."""
        breached = warned = 0
        for clock in await self._db.run(clocks.due, now):
            policy = await self._policies.get(clock.installation_id, clock.repo)
            if await self._db.run(_expire, clock, policy, now):
                breached += 1
        for clock in await self._db.run(clocks.warn_due, now):
            policy = await self._policies.get(clock.installation_id, clock.repo)
            if policy.in_quiet_hours(Priority(clock.priority), now, clock.kind_enum):
                continue  # no midnight pings for a business-hours request
            if await self._db.run(_warn, clock, policy, now):
                warned += 1
        escalated = await self._escalate(now)
        if self._metrics is not None:
            self._metrics.breaches.inc(breached)
        sent = await self._dispatcher.drain()
        if breached or warned or sent or escalated:
            log.info("sweep", extra={"breached": breached, "warned": warned, "sent": sent,
                                     "escalated": escalated})  # fmt: skip
        return SweepResult(breached=breached, warned=warned, sent=sent, escalated=escalated)

    async def preview(self, now: datetime) -> list[str]:
        """What a sweep at `now` would do, changing and sending nothing (`sweep --dry-run`)."""
        lines = []
        for clock in await self._db.run(clocks.due, now):
            policy = await self._policies.get(clock.installation_id, clock.repo)
            channel = tracking.alert_channel(policy, clock) or "no channel"
            lines.append(f"would breach {clock.repo}#{clock.issue_number}{_name(clock)} "
                         f"({clock.priority}, "
                         f"due {clock.due_at.isoformat()}): alert to {channel}")  # fmt: skip
        for clock in await self._db.run(clocks.warn_due, now):
            policy = await self._policies.get(clock.installation_id, clock.repo)
            if not policy.in_quiet_hours(Priority(clock.priority), now, clock.kind_enum):
                lines.append(f"would warn {clock.repo}#{clock.issue_number}{_name(clock)} "
                             f"({clock.priority})")  # fmt: skip
        for clock in await self._db.run(oncall.unacknowledged, now):
            policy = await self._policies.get(clock.installation_id, clock.repo)
            wait = policy.oncall.escalate_after.wall_clock
            if now >= clock.started_at + wait and not await self._db.run(
                oncall.acknowledged, clock.id
            ):
                lines.append(f"would escalate the page of {clock.repo}#{clock.issue_number}")
        return lines

    async def _escalate(self, now: datetime) -> int:
        """Pages nobody acknowledged within the policy's `escalate_after`, once each."""
        found = await self._db.run(oncall.unacknowledged, now)
        escalated = 0
        for clock in found:
            policy = await self._policies.get(clock.installation_id, clock.repo)
            escalated += await self._db.run(oncall.escalate, clock, policy, now)
        return escalated


def _expire(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> bool:
    if not tracking.apply(conn, clock, ClockEvent.EXPIRE, policy=policy, at=now, now=now):
        return False
    if clock.kind_enum is ClockKind.UPDATE:
        # One alert per interval: the overdue one lapses and the next runs from its due time,
        # so silence keeps alerting every interval until a responder speaks or it closes.
        lapsed = clocks.get(conn, clock.id)
        assert lapsed is not None
        tracking.apply(conn, lapsed, ClockEvent.LAPSE, policy=policy, at=clock.due_at, now=now,
                       by="no update in time")  # fmt: skip
        tracking.follow(conn, clock, ClockKind.UPDATE, policy=policy, at=clock.due_at,
                        by="the last interval lapsed", now=now)  # fmt: skip
    return True


def _warn(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> bool:
    if not clocks.mark_warned(conn, clock.id, now):
        return False  # another replica warned first
    channel = tracking.alert_channel(policy, clock)
    if channel:
        effects.alert(
            conn,
            content=tracking.content(clock, policy, AlertKind.WARNING, now),
            channel=channel,
            clock_id=clock.id,
            now=now,
            parent=tracking.issue_thread(conn, clock, channel),
        )
    return True


def _name(clock: Clock) -> str:
    """`` for the first response (as before), else ` next response`, ` update`..."""
    return "" if clock.kind == clocks.RESPONSE else " " + clock.kind.replace("_", " ")
