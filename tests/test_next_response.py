"""The promises after the first response, through signed deliveries (issue 16): a customer's
comment is answered within the next-response target, the pause label stops that clock until
the customer speaks, and an incident's customer hears from a responder at least hourly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sla_sandbox.standins import FakeSlack
from tests.factories import PROD, PROD_LABELS, label, opened, payload
from tests.harness import REPO, GitHubMock, Harness, MovableTime, mock_writes, with_policy

PAUSE = "sla: waiting on customer"
PAUSE_PATH = "sla:%20waiting%20on%20customer"
URGENT_LABELS = [label("type: problem"), label("priority: urgent")]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def comment(when: str, *, customer: bool = False, labels: list[Any] | None = None) -> Any:
    """A comment at local time `when`: by a member (road-runner), or by the issue's author."""
    data = payload(
        "issue_comment.created",
        comment__created_at=at(when).isoformat(),
        issue__labels=labels or URGENT_LABELS,
    )
    if customer:
        data["comment"]["user"] = data["issue"]["user"]
        data["comment"]["author_association"] = "NONE"
    return data


def relabel(action: str, name: str, when: str, labels: list[Any]) -> Any:
    return payload(
        f"issues.{action}",
        label=label(name),
        issue__labels=labels,
        issue__updated_at=at(when).isoformat(),
    )


def say(harness: Harness, time: MovableTime, event: str, data: Any, when: str) -> None:
    time.now = at(when)
    harness.deliver(event, data)


def opened_then_answered(
    harness: Harness, time: MovableTime, data: Any, answered: str, labels: list[Any]
) -> None:
    """The issue in `data` delivered as it is opened, then a member's answer at `answered`."""
    mock_writes(harness)
    time.now = datetime.fromisoformat(data["issue"]["created_at"]) + timedelta(seconds=5)
    harness.deliver("issues", data)
    say(
        harness,
        time,
        "issue_comment",
        comment(answered, labels=labels),
        (at(answered) + timedelta(seconds=5)).isoformat(),
    )


def alerts(slack: FakeSlack, headline: str) -> list[Any]:
    return [m for m in slack.messages if headline in m.text]


def answered_then_asked(harness: Harness, time: MovableTime) -> None:
    """Urgent, opened Friday 16:30; answered Monday 09:10; the customer asks at 09:20."""
    mock_writes(harness)
    time.now = at("2026-11-27T16:30:05+01:00")
    harness.deliver("issues", opened())
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T09:10:00+01:00"),
        "2026-11-30T09:10:05+01:00",
    )
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T09:20:00+01:00", customer=True),
        "2026-11-30T09:20:05+01:00",
    )


def test_a_customer_comment_nobody_answers_breaches_next_response_once(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    answered_then_asked(harness, time)
    (first,) = harness.clocks()
    assert (first.state, first.responder) == ("met", "road-runner")
    (waiting,) = harness.clocks(kind="next_response")
    assert waiting.state == "running" and waiting.due_at == at("2026-11-30T10:20:00+01:00")

    assert harness.sweep(at("2026-11-30T10:19:00+01:00")).breached == 0
    assert harness.sweep(at("2026-11-30T10:21:00+01:00")).breached == 1
    harness.sweep(at("2026-11-30T12:00:00+01:00"))
    (breach,) = alerts(fake_slack, "Next-response SLA breached")
    (announce,) = alerts(fake_slack, "New urgent request")
    assert breach.channel == "#support" and breach.thread_ts == announce.ts  # the issue's thread
    labeled = [c for c in harness.github.calls() if b'"sla: breached"' in c.request.content]
    assert len(labeled) == 1
    assert alerts(fake_slack, "First-response SLA breached") == []


def test_an_answer_in_time_meets_next_response_and_the_next_question_starts_another(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    answered_then_asked(harness, time)
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T09:50:00+01:00"),
        "2026-11-30T09:50:05+01:00",
    )
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T11:00:00+01:00", customer=True),
        "2026-11-30T11:00:05+01:00",
    )
    met, running = harness.clocks(kind="next_response")
    assert (met.state, met.response_seconds) == ("met", 30 * 60)
    assert running.state == "running" and running.started_by == "comment by wile-e"
    assert harness.sweep(at("2026-11-30T11:30:00+01:00")).breached == 0
    assert alerts(fake_slack, "Next-response SLA breached") == []


def test_waiting_on_the_customer_pauses_until_their_next_comment_takes_the_label_off(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    answered_then_asked(harness, time)
    removed = harness.github.route("DELETE", f"/repos/{REPO}/issues/7/labels/{PAUSE_PATH}").respond(
        200, json=[]
    )
    waiting = [*URGENT_LABELS, label(PAUSE)]
    say(
        harness,
        time,
        "issues",
        relabel("labeled", PAUSE, "2026-11-30T09:30:00+01:00", waiting),
        "2026-11-30T09:30:05+01:00",
    )
    (paused,) = harness.clocks(kind="next_response")
    assert paused.state == "paused"
    for moment in ("2026-11-30T10:21:00+01:00", "2026-11-30T13:59:00+01:00"):
        assert harness.sweep(at(moment)).breached == 0

    # The customer answers at 14:00: 4 h 30 m paused; the 50 open minutes left run from now.
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T14:00:00+01:00", customer=True, labels=waiting),
        "2026-11-30T14:00:05+01:00",
    )
    assert removed.call_count == 1
    (resumed,) = harness.clocks(kind="next_response")
    assert resumed.state == "running" and resumed.paused_seconds == 4.5 * 3600
    assert resumed.due_at == at("2026-11-30T14:50:00+01:00")
    # GitHub tells of the label's removal; the clock is running already: nothing changes.
    say(
        harness,
        time,
        "issues",
        relabel("unlabeled", PAUSE, "2026-11-30T14:00:06+01:00", URGENT_LABELS),
        "2026-11-30T14:00:10+01:00",
    )
    assert harness.clocks(kind="next_response")[0].due_at == resumed.due_at

    assert harness.sweep(at("2026-11-30T14:49:00+01:00")).breached == 0
    assert alerts(fake_slack, "Next-response SLA breached") == []
    assert harness.sweep(at("2026-11-30T14:51:00+01:00")).breached == 1
    assert len(alerts(fake_slack, "Next-response SLA breached")) == 1


def test_the_first_response_is_never_paused(harness: Harness, time: MovableTime) -> None:
    mock_writes(harness)
    time.now = at("2026-11-30T09:00:05+01:00")
    harness.deliver("issues", opened(issue__created_at="2026-11-30T08:00:00Z"))
    waiting = [*URGENT_LABELS, label(PAUSE)]
    say(
        harness,
        time,
        "issues",
        relabel("labeled", PAUSE, "2026-11-30T09:05:00+01:00", waiting),
        "2026-11-30T09:05:05+01:00",
    )
    assert [c.state for c in harness.clocks()] == ["running"]
    assert harness.sweep(at("2026-11-30T10:01:00+01:00")).breached == 1


def incident_answered(harness: Harness, time: MovableTime) -> None:
    """Production down, opened Sunday 03:00; a responder answers at 03:10."""
    data = opened("problem", PROD, issue__created_at="2026-11-29T02:00:00Z")
    opened_then_answered(harness, time, data, "2026-11-29T03:10:00+01:00", PROD_LABELS)


def test_an_incident_left_without_an_update_alerts_every_hour_from_the_last_responder_comment(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    incident_answered(harness, time)
    (interval,) = harness.clocks(kind="update")
    assert interval.due_at == at("2026-11-29T04:10:00+01:00")

    assert harness.sweep(at("2026-11-29T04:09:00+01:00")).breached == 0
    assert harness.sweep(at("2026-11-29T04:11:00+01:00")).breached == 1
    assert harness.sweep(at("2026-11-29T05:09:00+01:00")).breached == 0
    assert len(alerts(fake_slack, "Incident update overdue")) == 1
    assert harness.sweep(at("2026-11-29T05:11:00+01:00")).breached == 1
    overdue = alerts(fake_slack, "Incident update overdue")
    (page,) = alerts(fake_slack, "Paging on-call")
    assert len(overdue) == 2 and {m.thread_ts for m in overdue} == {page.ts}
    assert {m.channel for m in overdue} == {"#on-call"}

    # A responder's update at 05:30: the next interval runs from it.
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-29T05:30:00+01:00", labels=PROD_LABELS),
        "2026-11-29T05:30:05+01:00",
    )
    assert harness.sweep(at("2026-11-29T06:29:00+01:00")).breached == 0
    assert harness.sweep(at("2026-11-29T06:31:00+01:00")).breached == 1
    assert len(alerts(fake_slack, "Incident update overdue")) == 3

    # Closed: no more updates owed.
    time.now = at("2026-11-29T06:40:05+01:00")
    closed = payload(
        "issues.closed", issue__labels=PROD_LABELS, issue__closed_at="2026-11-29T05:40:00Z"
    )
    harness.deliver("issues", closed)
    assert harness.sweep(at("2026-11-29T09:00:00+01:00")).breached == 0
    assert [c.state for c in harness.clocks(kind="update")][-1] == "stopped"
    assert len(alerts(fake_slack, "Incident update overdue")) == 3


def test_status_tells_each_clock_its_start_pause_and_end(
    harness: Harness, time: MovableTime, monkeypatch: Any, capsys: Any
) -> None:
    from app.cli.main import main

    answered_then_asked(harness, time)
    harness.github.route("DELETE", f"/repos/{REPO}/issues/7/labels/{PAUSE_PATH}").respond(200)
    waiting = [*URGENT_LABELS, label(PAUSE)]
    say(
        harness,
        time,
        "issues",
        relabel("labeled", PAUSE, "2026-11-30T09:30:00+01:00", waiting),
        "2026-11-30T09:30:05+01:00",
    )
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T10:00:00+01:00", customer=True, labels=waiting),
        "2026-11-30T10:00:05+01:00",
    )
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["status", "--issue", "acme/support#7"]) == 0
    first, nxt = capsys.readouterr().out.strip().splitlines()
    assert first.startswith("acme/support#7  response Urgent  met  started Fri 27 Nov 2026")
    assert (
        "(opened by wile-e)" in first
        and "answered Mon 30 Nov 2026 09:10 CET by road-runner" in first
    )
    # On the real clock, long past its due time: breached, as `report` says.
    assert nxt.startswith(
        "acme/support#7  next_response Urgent  breached (running)  started Mon 30 Nov"
    )
    assert "(comment by wile-e)" in nxt and "30m paused (not counted)" in nxt
    assert "due Mon 30 Nov 2026 10:50 CET" in nxt


RESOLVING = """
priorities:
  urgent: {resolution: "2h", warn_at: 0.75}
"""


@pytest.fixture
def resolving(
    tmp_path: Path, github: GitHubMock, fake_slack: FakeSlack, time: MovableTime, app_key: str
) -> Iterator[Harness]:
    with with_policy(RESOLVING, tmp_path, github, fake_slack, time, app_key) as running:
        yield running


def opened_monday_nine(harness: Harness, time: MovableTime) -> None:
    opened_then_answered(
        harness,
        time,
        opened(issue__created_at="2026-11-30T08:00:00Z"),
        "2026-11-30T09:10:00+01:00",
        URGENT_LABELS,
    )


def test_a_resolution_target_warns_pauses_and_breaches_once(
    resolving: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    opened_monday_nine(resolving, time)
    (resolution,) = resolving.clocks(kind="resolution")
    assert resolution.due_at == at("2026-11-30T11:00:00+01:00")
    assert resolution.warn_at == at("2026-11-30T10:30:00+01:00")
    assert resolving.sweep(at("2026-11-30T10:31:00+01:00")).warned == 1
    (warning,) = alerts(fake_slack, "Resolution due soon")
    (announce,) = alerts(fake_slack, "New urgent request")
    assert warning.thread_ts == announce.ts

    waiting = [*URGENT_LABELS, label(PAUSE)]
    say(
        resolving,
        time,
        "issues",
        relabel("labeled", PAUSE, "2026-11-30T10:40:00+01:00", waiting),
        "2026-11-30T10:40:05+01:00",
    )
    assert resolving.sweep(at("2026-11-30T11:30:00+01:00")).breached == 0
    say(
        resolving,
        time,
        "issues",
        relabel("unlabeled", PAUSE, "2026-11-30T11:40:00+01:00", URGENT_LABELS),
        "2026-11-30T11:40:05+01:00",
    )
    (resumed,) = resolving.clocks(kind="resolution")
    assert resumed.state == "running" and resumed.due_at == at("2026-11-30T12:00:00+01:00")
    assert resolving.sweep(at("2026-11-30T11:59:00+01:00")).breached == 0
    assert resolving.sweep(at("2026-11-30T12:01:00+01:00")).breached == 1
    resolving.sweep(at("2026-11-30T13:00:00+01:00"))
    assert len(alerts(fake_slack, "Resolution SLA breached")) == 1


def test_closing_the_issue_meets_its_resolution_clock(
    resolving: Harness, time: MovableTime
) -> None:
    opened_monday_nine(resolving, time)
    time.now = at("2026-11-30T10:30:05+01:00")
    closed = payload(
        "issues.closed", issue__labels=URGENT_LABELS, issue__closed_at="2026-11-30T09:30:00Z"
    )
    resolving.deliver("issues", closed)
    (resolution,) = resolving.clocks(kind="resolution")
    assert (resolution.state, resolution.response_seconds) == ("met", 90 * 60)
    assert resolution.ended_by == "closed by road-runner"


def test_a_customer_comment_before_the_first_answer_starts_nothing_new(
    harness: Harness, time: MovableTime
) -> None:
    mock_writes(harness)
    time.now = at("2026-11-30T09:00:05+01:00")
    harness.deliver("issues", opened(issue__created_at="2026-11-30T08:00:00Z"))
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T09:05:00+01:00", customer=True),
        "2026-11-30T09:05:05+01:00",
    )
    assert harness.clocks(kind="next_response") == []
    assert [c.state for c in harness.clocks()] == ["running"]  # the first answer is still owed
    # A second customer comment while a next response is owed keeps the first one's clock.
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T09:10:00+01:00"),
        "2026-11-30T09:10:05+01:00",
    )
    for minute in ("20", "40"):
        say(
            harness,
            time,
            "issue_comment",
            comment(f"2026-11-30T09:{minute}:00+01:00", customer=True),
            f"2026-11-30T09:{minute}:05+01:00",
        )
    (owed,) = harness.clocks(kind="next_response")
    assert owed.started_at == at("2026-11-30T09:20:00+01:00")


def standing(harness: Harness) -> str:
    """The intake comment's text as last edited."""
    edits = harness.github.router.routes["standing"].calls
    return str(json.loads(edits.last.request.content)["body"]) if edits else ""


def test_the_intake_comment_tells_the_customer_where_their_request_stands(
    harness: Harness, time: MovableTime
) -> None:
    answered_then_asked(harness, time)
    text = standing(harness)
    assert text.startswith("<!-- sla-bot:intake:comment:acme/support#7 -->\nThanks for your")
    assert "**Where your request stands**" in text
    assert "- First response: Mon 30 Nov 2026, 09:10 CET (Europe/Amsterdam) by road-runner" in text
    assert "- Our answer to your last comment: by **Mon 30 Nov 2026, 10:20 CET" in text

    harness.github.route("DELETE", f"/repos/{REPO}/issues/7/labels/{PAUSE_PATH}").respond(200)
    waiting = [*URGENT_LABELS, label(PAUSE)]
    say(
        harness,
        time,
        "issues",
        relabel("labeled", PAUSE, "2026-11-30T09:30:00+01:00", waiting),
        "2026-11-30T09:30:05+01:00",
    )
    assert "paused while we wait for your reply (since Mon 30 Nov 2026, 09:30" in standing(harness)

    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T10:00:00+01:00", customer=True, labels=waiting),
        "2026-11-30T10:00:05+01:00",
    )
    assert "- Our answer to your last comment: by **Mon 30 Nov 2026, 10:50 CET" in standing(harness)
    say(
        harness,
        time,
        "issue_comment",
        comment("2026-11-30T10:05:00+01:00"),
        "2026-11-30T10:05:05+01:00",
    )
    assert "Our answer" not in standing(harness) and "First response" in standing(harness)


def test_once_closed_the_intake_comment_promises_nothing_more(
    harness: Harness, time: MovableTime
) -> None:
    incident_answered(harness, time)
    assert "- Our next update on this incident: by **Sun 29 Nov 2026, 04:10 CET" in standing(
        harness
    )
    time.now = at("2026-11-29T03:40:05+01:00")
    closed = payload(
        "issues.closed", issue__labels=PROD_LABELS, issue__closed_at="2026-11-29T02:40:00Z"
    )
    harness.deliver("issues", closed)
    assert "next update" not in standing(harness) and "First response" in standing(harness)
