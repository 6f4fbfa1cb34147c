"""A decision being made: the changes so far, and the issue's clocks as they leave them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from app.sla.clock import Clock, ClockEvent, ClockKind, ClockState, step
from app.sla.domain import Priority
from app.sla.events import Case, Mark, Move, Owe, Owed, Start, Step
from app.sla.outcome import moved_values
from app.sla.policy import Policy

K, S, E = ClockKind, ClockState, ClockEvent
# The clocks that follow an issue's priority: a relabel replaces them, an unlabel drops them.
FOLLOWERS = (K.NEXT_RESPONSE, K.UPDATE, K.RESOLUTION)


class Plan:
    """Changes being decided; later steps see the clocks as earlier steps left them."""

    def __init__(self, case: Case, policy: Policy, now: datetime) -> None:
        self.case, self.policy, self.now = case, policy, now
        self.steps: list[Step] = []
        self._refs = 0

    def _seen(self, clock: Clock) -> None:
        self.case = replace(
            self.case, clocks=tuple(clock if c.id == clock.id else c for c in self.case.clocks)
        )

    def owe(
        self, what: Owed, clock: int, at: datetime, who: str | None = None, note: str = ""
    ) -> None:
        self.steps.append(Step(None, (Owe(what, clock, at, who, note),)))

    def move(
        self,
        clock: Clock,
        event: ClockEvent,
        at: datetime,
        *,
        who: str | None = None,
        by: str | None = None,
        owed: Iterable[Owed] = (),
    ) -> Clock | None:
        """`event` on `clock` by the transition table; None when it changes nothing."""
        transition = step(ClockState(clock.state), event)
        if transition is None or (event is E.PAUSE and not clock.kind_enum.pausable):
            return None
        values = moved_values(clock, transition.target, self.policy, at, self.now)
        if transition.target is S.MET:
            values.update(responder=who, ended_by=by or f"comment by {who or '?'}")
        elif transition.target not in (S.BREACHED, S.RUNNING, S.PAUSED):
            values.update(ended_by=by or str(event))
        owes = [Owe(Owed(str(e)), clock.id, at, who) for e in transition.effects]
        owes += [Owe(o, clock.id, at, who) for o in owed]
        if tells(clock.kind_enum, event, transition.target):
            owes.append(Owe(Owed.TELL, clock.id, at))
        self.steps.append(Step(Move(clock, transition.target, values), tuple(owes)))
        after = replace(clock, state=str(transition.target), **values)  # type: ignore[arg-type]
        self._seen(after)
        return after

    def mark(
        self,
        clock: Clock,
        owed: Iterable[Owe] = (),
        *,
        unless: str | None = None,
        if_set: str | None = None,
        state: str | None = None,
        **values: object,
    ) -> Clock:
        self.steps.append(Step(Mark(clock.id, values, unless, if_set, state), tuple(owed)))
        after = replace(clock, **values)  # type: ignore[arg-type]
        self._seen(after)
        return after

    def start(
        self,
        kind: ClockKind,
        priority: Priority,
        request_type: str,
        at: datetime,
        by: str | None,
        *,
        page: bool = False,
        only_if_new: bool = False,
        owed: Iterable[Owed] = (),
    ) -> int:
        self._refs -= 1
        policy = self.policy
        wait = policy.oncall.escalate_after.wall_clock
        started = Start(
            ref=self._refs,
            kind=kind,
            priority=priority,
            request_type=request_type,
            started_at=at,
            due_at=policy.deadline(kind, priority, at),
            warn_at=policy.warning(kind, priority, at),
            started_by=by,
            paged_at=self.now if page else None,
            escalate_at=self.now + wait if page else None,
            only_if_new=only_if_new,
        )
        owes = tuple(Owe(o, self._refs, at) for o in owed)
        self.steps.append(Step(started, owes))
        self._seen_new(started)
        return self._refs

    def _seen_new(self, started: Start) -> None:
        clock = Clock(
            id=started.ref,
            installation_id=None,
            repo="",
            issue_number=0,
            kind=str(started.kind),
            priority=str(started.priority),
            request_type=started.request_type,
            state=str(S.RUNNING),
            started_at=started.started_at,
            due_at=started.due_at,
            warn_at=started.warn_at,
            warned_at=None,
            breached_at=None,
            met_at=None,
            ended_at=None,
            responder=None,
            response_seconds=None,
            issue_title="",
            issue_url="",
            issue_author="",
            started_by=started.started_by,
            paged_at=started.paged_at,
            escalate_at=started.escalate_at,
        )
        self.case = replace(self.case, clocks=(*self.case.clocks, clock))


def tells(kind: ClockKind, event: ClockEvent, target: ClockState) -> bool:
    """Whether the customer's view of the request changes (a breach is the team's business;
    a met or lapsed update interval is followed at once by the next, which tells)."""
    if kind not in FOLLOWERS or target is S.BREACHED:
        return False
    return not (kind is K.UPDATE and event in (E.RESPOND, E.LAPSE))
