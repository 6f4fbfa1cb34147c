"""Incident follow-through: a closed production-down issue owes a post-mortem in 3 days."""

from __future__ import annotations

import json
from datetime import datetime

from sla_sandbox.standins import FakeSlack
from tests.factories import PROD, label, opened, payload
from tests.harness import REPO, Harness, MovableTime, mock_writes


def incident(harness: Harness, time: MovableTime) -> None:
    time.now = datetime.fromisoformat("2026-11-29T03:00:05+01:00")
    mock_writes(harness)
    harness.deliver("issues", opened("problem", PROD, issue__created_at="2026-11-29T02:00:00Z"))
    reply = payload("issue_comment.created", comment__created_at="2026-11-29T02:10:00Z")
    harness.deliver("issue_comment", reply)
    time.now = datetime.fromisoformat("2026-11-29T05:00:05+01:00")
    closed = payload(
        "issues.closed",
        issue__labels=[label("type: problem"), label("priority: production-down")],
        issue__closed_at="2026-11-29T04:00:00Z",
    )
    harness.deliver("issues", closed)


def postmortem_alerts(slack: FakeSlack) -> list[object]:
    return [m for m in slack.messages if "post-mortem" in m.text.lower()]


def test_closing_an_incident_resolves_the_page_and_asks_for_a_postmortem(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    incident(harness, time)
    (page,) = [m for m in fake_slack.messages if m.channel == "#on-call" and not m.thread_ts]
    resolved = [m for m in fake_slack.messages if m.thread_ts == page.ts]
    assert len(resolved) == 1 and "closed" in resolved[0].text.lower()
    writes = [json.loads(c.request.content) for c in harness.github.calls()]
    assert {"labels": ["postmortem: due"]} in writes
    checklist = [w["body"] for w in writes if "body" in w and "post-mortem is due" in w["body"]]
    assert len(checklist) == 1 and "Wed 02 Dec 2026, 05:00 CET" in checklist[0]
    (pm,) = harness.clocks(kind="postmortem")
    assert pm.state == "running"


def test_an_unlinked_postmortem_alerts_once_when_due(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    incident(harness, time)
    assert harness.sweep(datetime.fromisoformat("2026-12-02T04:59:00+01:00")).breached == 0
    assert harness.sweep(datetime.fromisoformat("2026-12-02T05:01:00+01:00")).breached == 1
    harness.sweep(datetime.fromisoformat("2026-12-02T06:00:00+01:00"))
    (alert,) = [m for m in postmortem_alerts(fake_slack) if not m.thread_ts]
    assert alert.channel == "#on-call" and "overdue" in alert.text.lower()
    breached_label = [c for c in harness.github.calls() if b"sla: breached" in c.request.content]
    assert breached_label == []  # a late post-mortem is not a missed first response


def test_a_responder_linking_the_postmortem_closes_the_follow_up(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    incident(harness, time)
    link = payload(
        "issue_comment.created",
        comment__created_at="2026-11-30T10:00:00Z",
        comment__body="Post-mortem: https://wiki.example.com/pm/2026-11-29",
        issue__state="closed",
    )
    harness.deliver("issue_comment", link)
    assert [c.state for c in harness.clocks(kind="postmortem")] == ["met"]
    harness.sweep(datetime.fromisoformat("2026-12-03T00:00:00+01:00"))
    assert postmortem_alerts(fake_slack) == []


def test_the_postmortem_done_label_closes_the_follow_up(
    harness: Harness, time: MovableTime
) -> None:
    incident(harness, time)
    done = payload(
        "issues.labeled",
        label=label("postmortem: done"),
        issue__state="closed",
        issue__updated_at="2026-11-30T10:00:00Z",
    )
    harness.deliver("issues", done)
    assert [c.state for c in harness.clocks(kind="postmortem")] == ["met"]
    assert REPO == "acme/support"
