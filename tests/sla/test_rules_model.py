"""The decision core as a model: random lives of one issue (labels, comments, pauses, closes,
reopens, clicks, PagerDuty, sweeps, at random times) and, after every step, what a support
lead relies on: one page and one incident per episode, every incident resolved once its
episode is over, no alert for a closed issue, never "on it" after "resolved", paused and
counted time adding up, and `status`, `report` and the alerts agreeing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.reports.report import outcome
from app.sla import rules
from app.sla.clock import ClockKind
from app.sla.domain import Priority
from app.sla.events import ALERTS, Owed
from app.sla.outcome import Verdict, verdict
from app.sla.policy import DEFAULT_POLICY
from app.sla.policy_sections import Oncall
from tests.sla.memory import Memory

POLICY = DEFAULT_POLICY.model_copy(update={"oncall": Oncall(pagerduty=True, buttons=True)})
PRIORITIES = st.sampled_from([*Priority, None])
PEOPLE = st.sampled_from(["dana", "sam"])


class IssueLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.memory = Memory(POLICY)
        self.now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday afternoon
        self.labeled: Priority | None = None
        self.last_owed: list[rules.Owe] = []
        self.event: rules.Event | None = None
        self.first_priority: dict[int, str] = {}  # a relabel moves an answered clock on

    def feed(self, event: rules.Event) -> None:
        self.event = event
        self.last_owed = self.memory.feed(event, self.now)

    @initialize(priority=st.sampled_from(list(Priority)))
    def open(self, priority: Priority) -> None:
        self.labeled = priority
        self.feed(rules.Opened(self.now, priority, "problem", "kim"))

    @rule(minutes=st.integers(1, 60 * 30))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.last_owed = []

    @rule(priority=PRIORITIES)
    def relabel(self, priority: Priority | None) -> None:
        self.labeled = priority
        self.feed(rules.Prioritized(self.now, priority, None))

    @rule(who=PEOPLE, earlier=st.integers(0, 90), postmortem=st.booleans())
    def responder_comments(self, who: str, earlier: int, postmortem: bool) -> None:
        self.feed(rules.Commented(self.now - timedelta(minutes=earlier), who, True, postmortem))

    @rule(earlier=st.integers(0, 90))
    def customer_comments(self, earlier: int) -> None:
        self.feed(rules.Commented(self.now - timedelta(minutes=earlier), "kim", False))
        self.memory.pause_label_on = False

    @rule(on=st.booleans())
    def pause_label(self, on: bool) -> None:
        self.memory.pause_label_on = on
        self.feed(rules.Paused(self.now, on, "dana"))

    @precondition(lambda self: self.memory.is_open)
    @rule(reason=st.sampled_from(["completed", "not_planned"]), gone=st.booleans())
    def close(self, reason: str, gone: bool) -> None:
        self.memory.is_open = False
        self.feed(rules.Closed(self.now, reason, None if gone else "dana", gone=gone))

    @precondition(lambda self: not self.memory.is_open)
    @rule()
    def reopen(self) -> None:
        self.memory.is_open = True
        self.feed(rules.Reopened(self.now, self.labeled, None))

    @rule(who=PEOPLE, pick=st.integers(0, 5))
    def acknowledge(self, who: str, pick: int) -> None:
        self.feed(rules.Acknowledged(self.now, who, self._page(pick)))

    @rule(who=PEOPLE, pick=st.integers(0, 5), person=st.booleans())
    def resolve(self, who: str, pick: int, person: bool) -> None:
        self.feed(rules.Resolved(self.now, who, self._page(pick), person))

    @rule()
    def postmortem_done(self) -> None:
        self.feed(rules.PostmortemDone(self.now))

    @rule()
    def sweep(self) -> None:
        owed: list[rules.Owe] = []
        for clock in list(self.memory.clocks.values()):
            for what, when in (
                ("expire", clock.due_at),
                ("warn", clock.warn_at),
                ("escalate", clock.escalate_at),
            ):
                current = self.memory.clocks[clock.id]
                if when is not None and when <= self.now and current.live | (what == "escalate"):
                    self.feed(rules.Due(self.now, clock.id, what))
                    owed += self.last_owed
        self.last_owed = owed

    def _page(self, pick: int) -> int:
        firsts = self.memory.of(ClockKind.RESPONSE)
        return firsts[pick % len(firsts)].id if firsts else 1

    @invariant()
    def one_live_episode_and_each_incident_resolved_once_over(self) -> None:
        clocks = self.memory.clocks.values()
        assert sum(c.episode_live for c in clocks) <= 1
        triggered = {o.clock for o in self.memory.what(Owed.TRIGGER)}
        resolved = {o.clock for o in self.memory.what(Owed.PD_RESOLVE)}
        over = {c.id for c in clocks if c.paged_at is not None and c.page_ended_at is not None}
        assert triggered & over <= resolved
        if not self.memory.is_open:
            assert not any(c.episode_live for c in clocks)
        labeled_paging = self.labeled is not None and POLICY.priorities[self.labeled].page
        if not labeled_paging:
            assert not any(c.episode_live for c in clocks)

    @invariant()
    def nothing_alerts_for_a_closed_issue(self) -> None:
        """But its post-mortem: that one is owed after the close, by design."""
        if not self.memory.is_open and not isinstance(self.event, rules.Reopened):
            clocks = self.memory.clocks
            assert [
                o
                for o in self.last_owed
                if o.what in ALERTS and clocks[o.clock].kind != ClockKind.POSTMORTEM
            ] == []

    @invariant()
    def never_on_it_after_resolved(self) -> None:
        told: dict[int, Owed] = {}
        for owe in self.memory.what(Owed.ACK_COMMENT, Owed.RESOLVED_COMMENT):
            assert not (
                owe.what is Owed.ACK_COMMENT and told.get(owe.clock) is Owed.RESOLVED_COMMENT
            ), "on it, after resolved"
            told[owe.clock] = owe.what

    @invariant()
    def counted_and_paused_time_add_up(self) -> None:
        for clock in self.memory.clocks.values():
            priority = self.first_priority.setdefault(clock.id, clock.priority)
            if clock.met_at is None or clock.kind == ClockKind.POSTMORTEM:
                continue
            measure = POLICY.measure(clock.kind_enum, Priority(priority))
            elapsed = measure(clock.started_at, clock.met_at).total_seconds()
            assert clock.response_seconds is not None
            assert abs(clock.response_seconds + clock.paused_seconds - elapsed) <= 1

    @invariant()
    def status_report_and_alerts_agree(self) -> None:
        alerted = {o.clock for o in self.memory.what(Owed.BREACH)}
        for clock in self.memory.clocks.values():
            judged = verdict(clock, self.now)
            if clock.id in alerted:
                assert judged is Verdict.BREACHED
            shown = "running" if judged is Verdict.PAUSED else str(judged)
            assert outcome(clock, self.now) == shown

    @invariant()
    def one_live_clock_of_each_kind(self) -> None:
        for kind in ClockKind:
            assert sum(c.kind == kind and c.live for c in self.memory.clocks.values()) <= 1


IssueLife.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestIssueLife = IssueLife.TestCase
