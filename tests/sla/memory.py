"""The store's semantics in memory, for the decision core's tests: new clocks get ids, a move
is stored only from the state it was decided in, a mark only while its condition holds, a
first clock only where the issue never had one, and what is owed once per key (the outbox)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from app.sla import rules
from app.sla.clock import Clock
from app.sla.domain import Priority
from app.sla.events import Case, Mark, Move, Owe, Owed, Start, Step
from app.sla.policy import DEFAULT_POLICY, Policy
from app.sla.policy_sections import Oncall


@dataclass
class Memory:
    policy: Policy
    is_open: bool = True
    pause_label_on: bool = False
    clocks: dict[int, Clock] = field(default_factory=dict)
    owed: list[Owe] = field(default_factory=list)  # what reached the outbox, in order
    keys: set[str] = field(default_factory=set)

    def case(self) -> Case:
        return Case(
            tuple(self.clocks[i] for i in sorted(self.clocks)), self.is_open, self.pause_label_on
        )

    def feed(self, event: rules.Event, now: datetime) -> list[Owe]:
        """Decide `event` at `now` and store it; what it newly owes."""
        before = len(self.owed)
        self.apply(rules.decide(self.case(), event, self.policy, now))
        return self.owed[before:]

    def apply(self, steps: list[Step]) -> None:
        ids: dict[int, int] = {}
        for step in steps:
            change = step.change
            if isinstance(change, Start):
                if change.only_if_new and self._had(change.kind):
                    break
                assert self.live(change.kind) is None, f"a second live {change.kind} clock"
                ids[change.ref] = self._start(change)
            elif isinstance(change, Move):
                stored = self.clocks[change.clock.id]
                if stored.state != change.clock.state:
                    continue
                self.clocks[stored.id] = replace(stored, state=str(change.state), **change.values)  # type: ignore[arg-type]
            elif isinstance(change, Mark) and not self._mark(change):
                continue
            for owe in step.owed:
                resolved = replace(owe, clock=ids.get(owe.clock, owe.clock))
                if resolved.key not in self.keys:
                    self.keys.add(resolved.key)
                    self.owed.append(resolved)

    def live(self, kind: str) -> Clock | None:
        return next((c for c in self.clocks.values() if c.kind == kind and c.live), None)

    def of(self, kind: str) -> list[Clock]:
        return [c for c in sorted(self.clocks.values(), key=lambda c: c.id) if c.kind == kind]

    def what(self, *kinds: Owed) -> list[Owe]:
        return [o for o in self.owed if not kinds or o.what in kinds]

    def _had(self, kind: str) -> bool:
        return any(c.kind == kind for c in self.clocks.values())

    def _start(self, start: Start) -> int:
        clock_id = max(self.clocks, default=0) + 1
        self.clocks[clock_id] = Clock(
            id=clock_id,
            installation_id=1,
            repo="acme/support",
            issue_number=7,
            kind=str(start.kind),
            priority=str(start.priority),
            request_type=start.request_type,
            state="running",
            started_at=start.started_at,
            due_at=start.due_at,
            warn_at=start.warn_at,
            warned_at=None,
            breached_at=None,
            met_at=None,
            ended_at=None,
            responder=None,
            response_seconds=None,
            issue_title="Checkout is down",
            issue_url="https://github.test/acme/support/issues/7",
            issue_author="kim",
            started_by=start.started_by,
            paged_at=start.paged_at,
            escalate_at=start.escalate_at,
        )
        return clock_id

    def _mark(self, mark: Mark) -> bool:
        stored = self.clocks[mark.clock]
        if mark.unless is not None and getattr(stored, mark.unless) is not None:
            return False
        if mark.if_set is not None and getattr(stored, mark.if_set) is None:
            return False
        if mark.state is not None and stored.state != mark.state:
            return False
        self.clocks[stored.id] = replace(stored, **mark.values)  # type: ignore[arg-type]
        return True


PD, URGENT, NORMAL = Priority.PRODUCTION_DOWN, Priority.URGENT, Priority.NORMAL


T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # a Sunday night: production down is 24/7


POLICY = DEFAULT_POLICY.model_copy(update={"oncall": Oncall(pagerduty=True, buttons=True)})


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def said(owes: list[rules.Owe]) -> list[Owed]:
    return [o.what for o in owes]
