"""The SLA over HTTP: clocks from labels, sweeps at chosen times, Slack alerts exactly once."""

from __future__ import annotations

import json
from datetime import datetime

from sla_sandbox.standins import FakeSlack
from tests.factories import PROD, label, opened, payload
from tests.harness import Harness, MovableTime, mock_writes


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def breach_alerts(slack: FakeSlack) -> list[object]:
    return [m for m in slack.messages if "breached" in m.text.lower() and not m.thread_ts]


def labeled_breached(harness: Harness) -> int:
    return sum(
        1
        for c in harness.github.calls()
        if c.request.url.path.endswith("/labels")
        and json.loads(c.request.content) == {"labels": ["sla: breached"]}
    )


def test_friday_afternoon_urgent_breaches_monday_morning_once(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())  # Fri 27 Nov 16:30 Amsterdam
    announce = [m for m in fake_slack.messages if m.channel == "#support"]
    assert len(announce) == 1 and "urgent" in announce[0].text.lower()

    for moment in (
        "2026-11-27T17:00:00+01:00",
        "2026-11-28T12:00:00+01:00",
        "2026-11-30T09:29:00+01:00",
    ):
        assert harness.sweep(at(moment)).breached == 0
    assert breach_alerts(fake_slack) == [] and labeled_breached(harness) == 0

    result = harness.sweep(at("2026-11-30T09:31:00+01:00"))
    assert (result.breached, result.sent) == (1, 2)  # the alert and the label
    alerts = breach_alerts(fake_slack)
    assert len(alerts) == 1 and alerts[0].channel == "#support"
    assert "acme/support#7" in alerts[0].text
    assert labeled_breached(harness) == 1

    again = harness.sweep(at("2026-11-30T10:00:00+01:00"))
    assert (again.breached, again.sent) == (0, 0)
    assert len(breach_alerts(fake_slack)) == 1 and labeled_breached(harness) == 1


def test_a_responder_comment_in_time_means_no_alert_ever(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    reply = payload("issue_comment.created", comment__created_at="2026-11-30T08:15:00Z")
    harness.deliver("issue_comment", reply)
    assert [c.state for c in harness.clocks()] == ["met"]
    for moment in ("2026-11-30T09:31:00+01:00", "2026-12-07T09:00:00+01:00"):
        assert harness.sweep(at(moment)).breached == 0
    assert breach_alerts(fake_slack) == []


def test_comments_that_are_not_responses_do_not_stop_the_clock(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    bot = payload(
        "issue_comment.created", comment__user={"login": "helper[bot]", "id": 3, "type": "Bot"}
    )
    outsider = payload("issue_comment.created", comment__author_association="NONE")
    author = payload("issue_comment.created", comment__author_association="CONTRIBUTOR")
    author["comment"]["user"] = author["issue"]["user"]
    for data in (bot, outsider, author):
        harness.deliver("issue_comment", data)
    assert [c.state for c in harness.clocks()] == ["running"]


def test_a_responder_answers_an_issue_she_opened_on_a_customers_behalf(
    harness: Harness,
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    hers = payload("issue_comment.created", comment__author_association="MEMBER")
    hers["comment"]["user"] = hers["issue"]["user"]
    harness.deliver("issue_comment", hers)
    [clock] = harness.clocks()
    assert (clock.state, clock.responder) == ("met", hers["issue"]["user"]["login"])


def test_relabel_normal_to_urgent_starts_one_business_hour_from_the_relabel(
    harness: Harness, time: MovableTime
) -> None:
    normal = "Normal — everything else (response by end of the next business day)"
    mock_writes(harness)
    harness.deliver("issues", opened(priority=normal))
    time.now = at("2026-11-30T10:15:00+01:00")
    relabel = payload(
        "issues.labeled",
        issue__labels=[label("type: problem"), label("priority: urgent")],
        issue__updated_at="2026-11-30T09:15:00Z",
    )
    harness.deliver("issues", relabel)
    old, new = harness.clocks()
    assert (old.priority, old.state) == ("normal", "replaced")
    assert (new.priority, new.state) == ("urgent", "running")
    assert new.started_at == at("2026-11-30T10:15:00+01:00")
    assert new.due_at == at("2026-11-30T11:15:00+01:00")


def test_removing_every_priority_label_stops_tracking(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    removed = payload("issues.unlabeled", issue__labels=[label("type: problem")])
    harness.deliver("issues", removed)
    assert [c.state for c in harness.clocks()] == ["dropped"]
    assert harness.sweep(at("2026-12-01T12:00:00+01:00")).breached == 0


def test_closing_stops_the_clock(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    harness.deliver("issues", payload("issues.closed", issue__closed_at="2026-11-27T15:50:00Z"))
    assert [c.state for c in harness.clocks()] == ["stopped"]
    assert harness.sweep(at("2026-12-01T12:00:00+01:00")).breached == 0


def test_production_down_pages_at_once_and_breaches_after_30_minutes_on_sunday_night(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = at("2026-11-29T03:00:05+01:00")
    mock_writes(harness)
    sunday = opened(
        "problem",
        PROD,
        issue__created_at="2026-11-29T02:00:00Z",
        issue__updated_at="2026-11-29T02:00:00Z",
    )
    harness.deliver("issues", sunday)
    pages = [m for m in fake_slack.messages if m.channel == "#on-call"]
    assert len(pages) == 1
    assert harness.sweep(at("2026-11-29T03:29:00+01:00")).breached == 0
    assert harness.sweep(at("2026-11-29T03:31:00+01:00")).breached == 1
    alerts = breach_alerts(fake_slack)
    assert len(alerts) == 1 and alerts[0].channel == "#on-call"


def test_slack_failing_then_ok_gives_exactly_one_alert(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    fake_slack.fail_next(status=500, times=10)  # outlasts the client's own retry
    first = harness.sweep(at("2026-11-30T09:31:00+01:00"))
    assert first.breached == 1 and breach_alerts(fake_slack) == []
    fake_slack.reset()
    harness.sweep(at("2026-11-30T09:45:00+01:00"))
    harness.sweep(at("2026-11-30T10:00:00+01:00"))
    assert len(breach_alerts(fake_slack)) == 1


def test_a_late_response_is_posted_in_the_alerts_thread(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    harness.sweep(at("2026-11-30T09:31:00+01:00"))
    (alert,) = breach_alerts(fake_slack)
    late = payload("issue_comment.created", comment__created_at="2026-11-30T09:40:00Z")
    harness.deliver("issue_comment", late)
    replies = [m for m in fake_slack.messages if m.thread_ts]
    assert len(replies) == 1 and replies[0].thread_ts == alert.ts
    assert "late by 1h 10m" in replies[0].text
    assert "road-runner" in json.dumps(replies[0].blocks)
    assert [c.state for c in harness.clocks()] == ["met"]


def test_a_sweep_with_nothing_due_calls_neither_github_nor_slack(
    harness: Harness, fake_slack: FakeSlack
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    github_before, slack_before = len(harness.github.calls(setup=True)), len(fake_slack.calls)
    result = harness.sweep(at("2026-11-30T09:00:00+01:00"))
    assert (result.breached, result.warned, result.sent) == (0, 0, 0)
    assert len(harness.github.calls(setup=True)) == github_before
    assert len(fake_slack.calls) == slack_before


def test_transferred_out_ends_the_clock_here(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    moved = payload("issues.closed", action="transferred", issue__state="open")
    harness.deliver("issues", moved)
    assert [c.state for c in harness.clocks()] == ["stopped"]
