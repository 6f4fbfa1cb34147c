"""The decision core, rule by rule, the way a support lead would try it: events in, what the
team and the customer get out. No database, no server: each test runs in milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.reports.report import outcome
from app.sla import rules
from app.sla.domain import Priority
from app.sla.events import Owed
from app.sla.outcome import Verdict, verdict
from app.sla.policy import Policy
from app.sla.triage import as_text
from tests.sla.memory import NORMAL, PD, POLICY, T0, URGENT, Memory, said, t


def opened(priority: Priority = PD, *, policy: Policy = POLICY, at: datetime = T0) -> Memory:
    memory = Memory(policy)
    memory.feed(rules.Opened(at, priority, "problem", "kim"), at)
    return memory


def answer(memory: Memory, at: datetime, who: str = "dana") -> list[rules.Owe]:
    return memory.feed(rules.Commented(at, who, responder=True), at)


# Rule 1: a label that leaves the highest priority as it was changes nothing.


def test_a_second_priority_label_on_an_answered_incident_pages_nobody_again() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    assert memory.feed(rules.Prioritized(t(20), PD, None), t(20)) == []
    assert len(memory.of("response")) == 1
    assert len(memory.what(Owed.PAGE)) == len(memory.what(Owed.TRIGGER)) == 1


def test_the_apps_own_intake_label_arriving_after_an_answer_changes_nothing() -> None:
    memory = opened(URGENT)
    answer(memory, t(5))
    assert memory.feed(rules.Prioritized(t(90), URGENT, None), t(90)) == []
    assert [c.state for c in memory.of("response")] == ["met"]
    assert memory.feed(rules.Due(t(120), 1, "expire"), t(120)) == []


# Rule 2: relabel up pages a new episode; relabel down ends the episode.


def test_relabel_up_to_production_down_after_an_answer_pages_a_new_episode() -> None:
    memory = opened(URGENT)
    answer(memory, t(5))
    owes = memory.feed(rules.Prioritized(t(30), PD, None), t(30))
    new = memory.live("response")
    assert new is not None and new.priority == PD and new.started_at == t(30)
    assert said(owes)[:2] == [Owed.PAGE, Owed.TRIGGER]


def test_downgrading_an_acknowledged_incident_resolves_it_and_owes_no_new_first_response() -> None:
    memory = opened(PD)
    memory.feed(rules.Acknowledged(t(4), "dana", 1), t(4))
    owes = memory.feed(rules.Prioritized(t(30), URGENT, None), t(30))
    assert Owed.PD_RESOLVE in said(owes)
    assert memory.live("response") is None
    assert memory.feed(rules.Due(t(60 * 30), 1, "expire"), t(60 * 30)) == []
    memory.is_open = False
    assert memory.feed(rules.Closed(t(90), closer="dana"), t(90)) == [] or all(
        o.what is not Owed.PD_RESOLVE for o in memory.owed[-3:]
    )
    assert len(memory.what(Owed.PD_RESOLVE)) == 1


def test_downgrading_an_unanswered_incident_starts_the_urgent_clock_from_the_relabel() -> None:
    memory = opened(PD)
    owes = memory.feed(rules.Prioritized(t(10), URGENT, None), t(10))
    live = memory.live("response")
    assert live is not None and (live.priority, live.started_at) == (URGENT, t(10))
    assert Owed.PD_RESOLVE in said(owes) and Owed.PAGE not in said(owes)


# Rule 3: reopen.


def test_reopening_an_answered_incident_pages_again() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    memory.is_open = False
    memory.feed(rules.Closed(t(60), closer="dana"), t(60))
    memory.is_open = True
    owes = memory.feed(rules.Reopened(t(120), PD, None), t(120))
    assert said(owes)[:2] == [Owed.PAGE, Owed.TRIGGER]
    assert len({o.clock for o in memory.what(Owed.PAGE)}) == 2


def test_an_answered_urgent_request_reopened_owes_a_next_response_not_a_first() -> None:
    memory = opened(URGENT, at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    answer(memory, datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    memory.is_open = False
    memory.feed(
        rules.Closed(datetime(2026, 11, 30, 10, 0, tzinfo=UTC), closer="dana"),
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
    )
    memory.is_open = True
    reopen = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    memory.feed(rules.Reopened(reopen, URGENT, None), reopen)
    assert memory.live("response") is None
    owed = memory.live("next_response")
    assert owed is not None and owed.started_at == reopen


# Rule 4: close ends everything; reconcile's lost close is the same close.


def test_a_close_ends_every_live_clock_and_nothing_alerts_afterwards() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    memory.feed(rules.Commented(t(8), "kim", responder=False), t(8))
    assert memory.live("update") is not None and memory.live("next_response") is not None
    memory.is_open = False
    owes = memory.feed(rules.Closed(t(20), "not_planned", closer="dana"), t(20))
    assert [c for c in memory.clocks.values() if c.live] == []
    assert Owed.PD_RESOLVE in said(owes)
    for clock_id in memory.clocks:
        for what in ("expire", "warn", "escalate"):
            assert memory.feed(rules.Due(t(60 * 24), clock_id, what), t(60 * 24)) == []


# Rule 5: an overdue update alerts once.


def test_an_update_days_overdue_alerts_once_and_the_next_interval_runs_from_now() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    late = t(60 * 24 * 3)
    update = memory.live("update")
    assert update is not None
    owes = memory.feed(rules.Due(late, update.id, "expire"), late)
    assert said(owes).count(Owed.BREACH) == 1
    following = memory.live("update")
    assert following is not None and following.started_at == late
    assert memory.feed(rules.Due(late, following.id, "expire"), late) == []


# Rule 6: acknowledge and resolve of an episode that is over; resolves nobody made.


def test_acknowledge_after_resolve_tells_the_customer_nothing() -> None:
    memory = opened(PD)
    memory.feed(rules.Resolved(t(10), "dana", 1), t(10))
    assert memory.feed(rules.Acknowledged(t(11), "sam", 1), t(11)) == []
    assert memory.what(Owed.ACK_COMMENT) == []


def test_a_pagerduty_auto_resolve_neither_closes_the_issue_nor_tells_the_customer() -> None:
    memory = opened(PD)
    assert memory.feed(rules.Resolved(t(10), "PagerDuty", 1, person=False), t(10)) == []
    assert memory.live("response") is not None


def test_a_second_acknowledge_changes_nothing() -> None:
    memory = opened(PD)
    first = memory.feed(rules.Acknowledged(t(3), "dana", 1), t(3))
    assert said(first)[0] is Owed.ACK_COMMENT
    assert memory.feed(rules.Acknowledged(t(4), "sam", 1), t(4)) == []


def test_an_answer_on_github_acknowledges_pagerduty_and_the_page() -> None:
    memory = opened(PD)
    owes = answer(memory, t(6), "kim-engineer")
    assert {Owed.PD_ACKNOWLEDGE, Owed.PAGE_STATUS} <= set(said(owes))
    assert Owed.ACK_COMMENT not in said(owes)  # the customer has the answer itself
    assert memory.feed(rules.Due(t(16), 1, "escalate"), t(16)) == []


# Rule 8: the post-mortem.


def closed_incident() -> Memory:
    memory = opened(PD)
    answer(memory, t(5))
    memory.is_open = False
    memory.feed(rules.Closed(t(60), closer="dana"), t(60))
    return memory


def test_any_link_is_not_a_post_mortem() -> None:
    memory = closed_incident()
    memory.feed(
        rules.Commented(
            t(70), "dana", True, rules.names_postmortem("logs: https://grafana.test/d/1")
        ),
        t(70),
    )
    assert [c.state for c in memory.of("postmortem")] == ["running"]
    memory.feed(
        rules.Commented(
            t(80), "dana", True, rules.names_postmortem("Post-mortem: https://wiki.test/pm/7")
        ),
        t(80),
    )
    assert [c.state for c in memory.of("postmortem")] == ["met"]


def test_a_written_post_mortem_stays_met_across_reopen_and_close() -> None:
    memory = closed_incident()
    memory.feed(rules.PostmortemDone(t(80)), t(80))
    memory.is_open = True
    memory.feed(rules.Reopened(t(100), PD, None), t(100))
    memory.is_open = False
    memory.feed(rules.Closed(t(200), closer="dana"), t(200))
    assert [c.state for c in memory.of("postmortem")] == ["met"]


# Rule 9 (pauses) and rule 10 (comments judged by their time).


def test_a_pause_after_the_due_time_does_not_hide_the_breach() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    memory.feed(rules.Commented(t(10), "kim", responder=False), t(10))
    owed = memory.live("next_response")
    assert owed is not None
    owes = memory.feed(rules.Paused(t(50), True, "dana"), t(55))
    assert Owed.BREACH in said(owes)
    assert memory.live("next_response") is not None
    assert memory.live("next_response").state == "breached"  # type: ignore[union-attr]


def test_a_customer_comment_from_before_the_answer_delivered_late_owes_nothing() -> None:
    memory = opened(URGENT, at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    answered = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    answer(memory, answered)
    earlier = datetime(2026, 11, 30, 9, 20, tzinfo=UTC)
    memory.feed(rules.Commented(earlier, "kim", responder=False), answered)
    assert memory.live("next_response") is None


# Rule 11: escalation from the page.


def test_escalation_runs_from_the_page_not_from_the_issues_creation() -> None:
    created = t(0)
    memory = Memory(POLICY)
    paged = t(25)  # the opening reached sla-bot late (a redelivery)
    memory.feed(rules.Opened(created, PD, "problem", "kim"), paged)
    clock = memory.live("response")
    assert clock is not None and clock.escalate_at == paged + timedelta(minutes=15)
    assert memory.feed(rules.Due(t(30), clock.id, "escalate"), t(30)) == []
    assert said(memory.feed(rules.Due(t(41), clock.id, "escalate"), t(41))) == [Owed.ESCALATE]
    assert memory.feed(rules.Due(t(50), clock.id, "escalate"), t(50)) == []


# Rule 12: names reach the customer as text.


def test_a_slack_name_reaches_the_customer_as_plain_text() -> None:
    shown = as_text("Dänä <!channel> [x](http://evil) @acme/everyone")
    import re

    assert "acme/everyone" in shown  # shown, as text: nothing unescaped that would notify,
    assert not re.search(r"(?<!\\)[<\[]|@\w", shown)  # link or be read as HTML


# One definition of met and breached.


def test_an_answer_after_the_due_time_is_breached_everywhere() -> None:
    memory = opened(PD)
    late = t(45)
    answer(memory, late)
    [clock] = memory.of("response")
    assert verdict(clock, late) is Verdict.BREACHED
    assert outcome(clock, late) == "breached"


def test_a_clock_closed_while_waiting_on_the_customer_is_judged_on_its_counted_time() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    memory.feed(rules.Commented(t(10), "kim", responder=False), t(10))
    memory.feed(rules.Paused(t(20), True, "dana"), t(20))
    memory.is_open = False
    memory.feed(rules.Closed(t(300), closer="dana"), t(300))
    [owed] = memory.of("next_response")
    assert owed.paused_seconds == 280 * 60
    assert verdict(owed, t(300)) is Verdict.CLOSED
    assert outcome(owed, t(300)) == "closed"


@pytest.mark.parametrize("priority", [URGENT, NORMAL])
def test_a_routine_request_opens_quietly_with_no_page(priority: Priority) -> None:
    memory = opened(priority, at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert memory.what(Owed.PAGE, Owed.TRIGGER) == []


def test_status_says_breached_for_an_answer_after_the_due_time() -> None:
    from app.reports.report import status_line

    memory = opened(PD)
    answer(memory, t(45))
    [clock] = memory.of("response")
    assert "  breached (met)  " in status_line(clock, POLICY.tz, t(50))


def test_a_relabel_down_and_back_up_pages_again() -> None:
    memory = opened(PD)
    answer(memory, t(5))
    memory.feed(rules.Prioritized(t(20), URGENT, None), t(20))
    owes = memory.feed(rules.Prioritized(t(40), PD, None), t(40))
    assert said(owes)[:2] == [Owed.PAGE, Owed.TRIGGER]
    assert len(memory.what(Owed.PD_RESOLVE)) == 1


def test_the_readme_lists_the_rules_of_the_core() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"\n{rules.rule_list()}\n" in readme


def test_a_form_answer_quoted_back_to_the_customer_mentions_and_links_nobody() -> None:
    import re

    from app.sla.issue import Issue
    from app.sla.triage import decide, intake_comment

    body = (
        "### Request type\n\nProblem/Troubleshooting\n\n### Priority\n\nProduction down\n\n"
        "### End users affected\n\nA few @acme/everyone [x](http://evil) <b>hi</b>\n"
    )
    issue = Issue(
        repo="acme/support",
        number=7,
        title="t",
        body=body,
        author="kim",
        labels=(),
        state="open",
        created_at=T0,
        updated_at=T0,
        url="https://github.test/acme/support/issues/7",
        is_pull_request=False,
    )
    decision = decide(issue, POLICY)
    text = intake_comment(issue, decision, POLICY, T0)
    quoted = text[text.index("A few") :]
    assert "acme/everyone" in quoted  # the answer is shown, as text:
    assert not re.search(r"@\w|(?<!\\)(\[x\]|<b>)", quoted)  # no mention, link or HTML


def test_the_post_mortem_link_is_kept_with_its_clock() -> None:
    memory = closed_incident()
    body = "Post-mortem written: https://wiki.test/pm/7."
    memory.feed(
        rules.Commented(
            t(80), "dana", True, rules.names_postmortem(body), rules.postmortem_link(body)
        ),
        t(80),
    )
    [written] = memory.of("postmortem")
    assert (written.state, written.ended_by) == ("met", "post-mortem https://wiki.test/pm/7")
