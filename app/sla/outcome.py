"""How a clock came out, one definition for the alerts, `status`, `report` and the metrics;
and the columns each transition sets (times, paused time settled)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from app.sla.clock import Clock, ClockKind, ClockState
from app.sla.domain import Priority
from app.sla.pause import Pauses
from app.sla.policy import Policy

K, S = ClockKind, ClockState


class Verdict(StrEnum):
    MET = "met"
    BREACHED = "breached"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"  # ended before its due time, unanswered (closed, moved, relabeled)


def verdict(clock: Clock, now: datetime) -> Verdict:
    """How a clock came out, for the alerts, `status`, `report` and the metrics alike: met
    if answered by its due time (paused time never counts), breached if its due time passed
    before an answer or its end, else running, paused, or closed in time."""
    if clock.breached_at is not None:
        return Verdict.BREACHED
    if clock.met_at is not None:
        return Verdict.MET if clock.met_at <= clock.due_at else Verdict.BREACHED
    if clock.state == S.PAUSED:
        return Verdict.PAUSED
    if clock.state == S.RUNNING:
        return Verdict.BREACHED if now >= clock.due_at else Verdict.RUNNING
    ended = clock.ended_at or now
    return Verdict.BREACHED if ended > clock.due_at else Verdict.CLOSED


def moved_values(
    clock: Clock, target: ClockState, policy: Policy, at: datetime, now: datetime
) -> dict[str, object]:
    """The columns a transition to `target` sets: times, and paused time settled. A clock
    that ends while paused has its due time moved on by the pause, as a resume would: it
    is judged on the time it counted."""
    kind, priority = clock.kind_enum, Priority(clock.priority)
    measure = policy.measure(kind, priority)
    pauses = Pauses(timedelta(seconds=clock.paused_seconds), clock.paused_at, clock.resumed_at)
    if target is S.PAUSED:
        return {"paused_at": pauses.pause(at).since}
    if target is S.BREACHED:
        return {"breached_at": now}
    settled = pauses.resume(at, measure)
    values: dict[str, object] = {
        "paused_at": None,
        "paused_seconds": int(settled.paused.total_seconds()),
        "resumed_at": settled.until,
    }
    span = settled.paused - pauses.paused
    if span:
        values["due_at"] = policy.extend(kind, priority, clock.due_at, span)
        if clock.warn_at is not None and clock.warned_at is None:
            values["warn_at"] = policy.extend(kind, priority, clock.warn_at, span)
    if target is S.RUNNING:
        return values
    values.update(ended_at=at, escalate_at=None)  # an ended clock is escalated no more
    if target is S.MET:
        took = (
            at - clock.started_at  # post-mortems run on the wall clock
            if kind is K.POSTMORTEM
            else pauses.counted(clock.started_at, at, measure)
        )
        values.update(met_at=at, response_seconds=int(took.total_seconds()))
    return values
