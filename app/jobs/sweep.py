"""The sweep: due clocks breach once, early warnings go out in open hours, the outbox drains."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.engine.dispatch import Dispatcher
from app.github.policies import PolicyLoader
from app.jobs import targets
from app.metrics import Metrics
from app.sla import rules
from app.sla.clock import Clock
from app.sla.domain import Priority
from app.sla.events import Owed
from app.sla.policy import Policy
from app.store import clocks, tracking
from app.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    breached: int
    warned: int
    sent: int
    escalated: int = 0
    not_sent: int = 0  # effects for targets the deployment does not use, recorded not sent


class Sweeper:
    """One pass: read due clocks by index, decide, then send what the outbox holds."""

    def __init__(
        self,
        *,
        db: Database,
        policies: PolicyLoader,
        dispatcher: Dispatcher,
        metrics: Metrics | None = None,
        time: Callable[[], datetime] | None = None,
    ):
        self._db = db
        self._time = time  # the process's time (claims), never the evaluation time
        self._metrics = metrics
        self._policies = policies
        self._dispatcher = dispatcher

    async def sweep(self, now: datetime) -> SweepResult:
        """Decide as of `now` (the evaluation time); the outbox drains on the process's time."""
        breached = warned = 0
        for clock in await self._db.run(clocks.due, now):
            breached += await self._due(clock, now, "expire")
        for clock in await self._db.run(clocks.warn_due, now):
            policy = await self._policy(clock)
            if policy.in_quiet_hours(Priority(clock.priority), now, clock.kind_enum):
                continue  # no midnight pings for a business-hours request
            warned += await self._due(clock, now, "warn")
        escalated = 0
        for clock in await self._db.run(clocks.to_escalate, now):
            escalated += await self._due(clock, now, "escalate", counts=Owed.ESCALATE)
        if self._metrics is not None:
            self._metrics.breaches.inc(breached)
        at = self._time() if self._time is not None else now
        settled = await targets.settle(self._db, self._dispatcher.sending(), at)
        not_sent = sum(settled.values())
        sent = await self._dispatcher.drain()
        if breached or warned or sent or escalated or not_sent:
            log.info(
                "sweep",
                extra={
                    "breached": breached,
                    "warned": warned,
                    "sent": sent,
                    "escalated": escalated,
                    "not_sent": not_sent,
                },
            )
        return SweepResult(
            breached=breached, warned=warned, sent=sent, escalated=escalated, not_sent=not_sent
        )

    async def _policy(self, clock: Clock) -> Policy:
        """The clock's policy; while GitHub cannot be asked, the best at hand: a breach,
        warning or escalation of a clock already started never waits on GitHub."""
        return (await self._policies.read(clock.installation_id, clock.repo)).policy

    async def _due(self, clock: Clock, now: datetime, what: str, counts: Owed | None = None) -> int:
        """The core's decision on a due clock, stored; 1 when it did what the sweep counts
        (`counts`: it owed that), else 0."""
        policy = await self._policy(clock)
        return int(
            await self._db.run(_decide, clock, rules.Due(now, clock.id, what), policy, now, counts)
        )

    async def preview(self, now: datetime) -> list[str]:
        """What a sweep at `now` would do, changing and sending nothing (`sweep --dry-run`)."""
        lines = []
        for clock in await self._db.run(clocks.due, now):
            policy = await self._policy(clock)
            channel = tracking.alert_channel(policy, clock) or "no channel"
            lines.append(
                f"would breach {clock.repo}#{clock.issue_number}{_name(clock)} "
                f"({clock.priority}, "
                f"due {clock.due_at.isoformat()}): alert to {channel}"
            )
        for clock in await self._db.run(clocks.warn_due, now):
            policy = await self._policy(clock)
            if not policy.in_quiet_hours(Priority(clock.priority), now, clock.kind_enum):
                lines.append(
                    f"would warn {clock.repo}#{clock.issue_number}{_name(clock)} ({clock.priority})"
                )
        for clock in await self._db.run(clocks.to_escalate, now):
            policy = await self._policy(clock)
            steps = await self._db.run(
                _steps, clock, rules.Due(now, clock.id, "escalate"), policy, now
            )
            if any(o.what is Owed.ESCALATE for step in steps for o in step.owed):
                lines.append(f"would escalate the page of {clock.repo}#{clock.issue_number}")
        return lines


def _steps(
    conn: Connection, clock: Clock, event: rules.Event, policy: Policy, now: datetime
) -> list[rules.Step]:
    return rules.decide(tracking.case_of(conn, clock.repo, clock.issue_number), event, policy, now)


def _decide(
    conn: Connection,
    clock: Clock,
    event: rules.Event,
    policy: Policy,
    now: datetime,
    counts: Owed | None,
) -> bool:
    steps = _steps(conn, clock, event, policy, now)
    applied = tracking.apply(conn, tracking.Subject.of_clock(clock), steps, policy, now)
    if counts is None:
        return applied > 0
    return applied > 0 and any(o.what is counts for step in steps for o in step.owed)


def _name(clock: Clock) -> str:
    """`` for the first response (as before), else ` next response`, ` update`..."""
    return "" if clock.kind == clocks.RESPONSE else " " + clock.kind.replace("_", " ")
