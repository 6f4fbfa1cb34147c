"""Rule 12, decision by decision: a call to the escalation number opens its request at the
call (before any issue), pages once, and the issue opened later pages nobody again."""

from __future__ import annotations

from datetime import timedelta

from app.sla import rules
from app.sla.domain import Priority
from app.sla.events import Owed
from app.sla.policy_sections import Slack
from tests.sla.memory import PD, POLICY, T0, URGENT, Memory, said, t

CALLER = "+31 •••••• 567"


def called(priority: Priority = PD) -> tuple[Memory, list[rules.Owe]]:
    memory = Memory(POLICY)
    return memory, memory.feed(rules.Called(T0, CALLER, priority), T0)


def test_a_call_pages_slack_and_pagerduty_at_once_and_counts_30_minutes_from_the_call() -> None:
    memory, owes = called()
    assert said(owes) == [Owed.PAGE, Owed.TRIGGER]
    [clock] = memory.of("response")
    assert (clock.priority, clock.request_type) == ("production-down", "problem")
    assert clock.started_at == clock.paged_at == T0
    assert clock.due_at == T0 + timedelta(minutes=30)
    assert clock.started_by == f"call from {CALLER}"
    assert clock.escalate_at == T0 + timedelta(minutes=15)


def test_the_same_call_twice_pages_once() -> None:
    memory, _ = called()
    assert memory.feed(rules.Called(t(0.5), CALLER), t(0.5)) == []
    assert len(memory.of("response")) == 1


def test_the_issue_opened_for_the_call_pages_nobody_again() -> None:
    memory, _ = called()
    # The issue's own `opened` and label deliveries, once it carries the call's clock.
    assert memory.feed(rules.Opened(t(1), PD, "problem", "sla-bot[bot]"), t(1)) == []
    assert (
        memory.feed(rules.Prioritized(t(1), PD, "problem", intake=True, created_at=t(1)), t(1))
        == []
    )
    assert len(memory.what(Owed.PAGE)) == 1


def test_a_called_in_episode_is_acknowledged_and_met_like_any_page() -> None:
    memory, _ = called()
    owes = memory.feed(rules.Acknowledged(t(4), "dana", 1), t(4))
    assert Owed.ACK_COMMENT in said(owes) and Owed.PD_ACKNOWLEDGE in said(owes)
    [clock] = memory.of("response")
    assert (clock.state, clock.met_at) == ("met", t(4))


def test_an_unanswered_call_breaches_30_minutes_after_the_call() -> None:
    memory, _ = called()
    assert said(memory.feed(rules.Due(t(29), 1, "expire"), t(29))) == []
    assert Owed.BREACH in said(memory.feed(rules.Due(t(30), 1, "expire"), t(30)))


def test_a_call_that_is_not_production_down_opens_an_urgent_request_and_pages_nobody() -> None:
    memory, owes = called(priority=URGENT)
    assert said(owes) == [Owed.ANNOUNCE]
    [clock] = memory.of("response")
    assert clock.paged_at is None and clock.priority == "urgent"


def test_with_paging_off_a_call_still_opens_its_clock() -> None:
    policy = POLICY.model_copy(update={"slack": Slack(page_channel=None)})
    memory = Memory(policy)
    assert memory.feed(rules.Called(T0, CALLER), T0) == []
    assert [c.priority for c in memory.of("response")] == ["production-down"]
