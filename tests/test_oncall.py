"""The on-call loop end to end: a production-down issue pages Slack (with buttons) and
PagerDuty; a signed Acknowledge click tells the customer and meets the clock; Resolve closes
the issue and the incident; an unacknowledged page is escalated once."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.http.interactions import slack_signature
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import FakePagerDuty
from tests.factories import (
    PD_SECRET,
    SIGNING_SECRET,
    SUNDAY_3AM,
    click,
    label,
    opened_problem,
    pagerduty_signature,
    payload,
)
from tests.harness import Harness, MovableTime, body_of, comments, mock_writes


def page_of(slack: FakeSlack) -> Any:
    [page] = [m for m in slack.messages if m.channel == "#on-call" and not m.thread_ts]
    return page


def test_a_production_down_issue_pages_slack_with_buttons_and_pagerduty_once(
    oncall: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.sweep(oncall.time.now + timedelta(minutes=1))  # nothing more to send
    [event] = pagerduty.events
    assert pagerduty.refused == []  # valid as the Events API documents it
    assert event["event_action"] == "trigger"
    # This deployment, the issue, and when it paged: unique per outage, shared by retries.
    key = r"sla-bot-[0-9a-f]{12}-acme/support#7-20261129T0200\d\dZ"
    assert re.fullmatch(key, event["dedup_key"])
    assert (
        event["payload"]["severity"] == "critical"
        and "acme/support#7" in (event["payload"]["summary"])
    )
    assert event["links"][0]["href"] == "https://github.com/acme/support/issues/7"
    actions = [b for b in page_of(fake_slack).blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["sla_acknowledge", "sla_resolve"]


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-secret", timedelta(0)), (SIGNING_SECRET, timedelta(minutes=6))],
    ids=["forged", "stale"],
)
def test_a_forged_or_stale_click_is_refused_and_changes_nothing(
    oncall: Harness, pagerduty: FakePagerDuty, secret: str, age: timedelta
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    before = len(oncall.github.calls())
    assert click(oncall, "acknowledge", secret=secret, age=age).status_code == 401
    unsigned = oncall.http.post(f"{oncall.url}/slack/interactions", content=b"payload=%7B%7D")
    assert unsigned.status_code == 401
    oncall.wait_idle()
    assert len(oncall.github.calls()) == before
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
    assert oncall.clocks()[0].state == "running"


def test_acknowledge_tells_the_customer_meets_the_clock_and_acknowledges_the_incident(
    oncall: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.time.advance(minutes=10)
    assert click(oncall, "acknowledge").status_code == 200
    oncall.wait_idle()
    assert click(oncall, "acknowledge").status_code == 200  # a second click: nothing more
    oncall.wait_idle()
    acks = [c for c in comments(oncall) if "on call" in c]
    assert (
        len(acks) == 1
        and "**dana.oncall** (on call) is on it since Sun 29 Nov 2026, 03:10" in (acks[0])
    )
    [clock] = oncall.clocks()
    assert (clock.state, clock.responder) == ("met", "dana.oncall")
    assert clock.met_at == oncall.time.now
    assert pagerduty.incidents[0].status == "acknowledged"
    page = page_of(fake_slack)
    assert "Acknowledged by dana.oncall" in (page.text or "")
    [actions] = [b for b in page.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["sla_resolve"]
    result = oncall.sweep(oncall.time.now + timedelta(minutes=21))  # 31 minutes after
    assert (result.breached, result.escalated) == (0, 0)


def test_resolve_tells_the_customer_closes_the_issue_and_resolves_the_incident(
    oncall: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.time.advance(minutes=40)
    assert click(oncall, "resolve").status_code == 200
    oncall.wait_idle()
    assert any("This incident is resolved (dana.oncall" in c for c in comments(oncall))
    [close] = [c for c in oncall.github.calls() if c.request.url.path.endswith("/issues/7")]
    assert body_of(close) == {"state": "closed", "state_reason": "completed"}
    assert pagerduty.incidents[0].status == "resolved"
    # GitHub then sends the close: the post-mortem follow-up starts, nothing is resolved twice.
    closed = payload(
        "issues.closed",
        issue__labels=[label("type: problem"), label("priority: production-down")],
        issue__closed_at="2026-11-29T02:40:00Z",
    )
    oncall.deliver("issues", closed)
    assert [c.state for c in oncall.clocks(kind="postmortem")] == ["running"]
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]
    assert "Resolved by dana.oncall" in (page_of(fake_slack).text or "")


def test_closing_the_issue_on_github_resolves_the_incident(
    oncall: Harness, pagerduty: FakePagerDuty
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    closed = payload(
        "issues.closed",
        issue__labels=[label("type: problem"), label("priority: production-down")],
        issue__closed_at="2026-11-29T02:20:00Z",
    )
    oncall.deliver("issues", closed)
    assert pagerduty.incidents[0].status == "resolved"


def test_an_unacknowledged_page_is_escalated_once_and_an_acknowledged_one_never(
    oncall: Harness, fake_slack: FakeSlack
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    start = oncall.time.now
    assert oncall.sweep(start + timedelta(minutes=14)).escalated == 0
    assert oncall.sweep(start + timedelta(minutes=16)).escalated == 1
    assert oncall.sweep(start + timedelta(minutes=25)).escalated == 0
    escalations = [m for m in fake_slack.messages if "Escalation" in (m.text or "")]
    assert len(escalations) == 1 and "<!subteam^S0ONCALL>" in (escalations[0].text or "")
    assert escalations[0].channel == "#on-call" and escalations[0].thread_ts is None


def test_an_acknowledged_page_is_never_escalated(oncall: Harness, fake_slack: FakeSlack) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    start = oncall.time.now
    oncall.time.advance(minutes=5)
    click(oncall, "acknowledge")
    oncall.wait_idle()
    for minutes in (16, 30, 60):
        assert oncall.sweep(start + timedelta(minutes=minutes)).escalated == 0
    assert not [m for m in fake_slack.messages if "Escalation" in (m.text or "")]


def test_without_the_signing_secret_the_buttons_are_off(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = SUNDAY_3AM
    mock_writes(harness)
    harness.deliver("issues", opened_problem("All end users"))
    assert not [b for b in page_of(fake_slack).blocks if b["type"] == "actions"]
    assert harness.http.post(f"{harness.url}/slack/interactions", content=b"").status_code == 404


def pagerduty_event(
    harness: Harness, kind: str, pagerduty: FakePagerDuty, *, secret: str = PD_SECRET
) -> httpx.Response:
    """A V3 webhook as PagerDuty sends it when the engineer acts in its app, about the
    incident sla-bot triggered."""
    key = pagerduty.incidents[0].dedup_key
    body = json.dumps(
        {
            "event": {
                "id": "01DEN4HPBQAJE7QW6UMMGKLG5L",
                "event_type": kind,
                "resource_type": "incident",
                "occurred_at": "2026-11-29T02:05:00.000Z",
                "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "number": 2,
                    "status": "acknowledged",
                    "incident_key": key,
                    "title": "Production down",
                },
            }
        }
    ).encode()
    signature = pagerduty_signature(body, secret)
    headers = {"content-type": "application/json", "x-pagerduty-signature": signature}
    return harness.http.post(f"{harness.url}/pagerduty/webhooks", content=body, headers=headers)


def test_an_acknowledgement_in_pagerduty_flows_back_like_a_click(
    oncall: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.time.advance(minutes=5)
    forged = pagerduty_event(oncall, "incident.acknowledged", pagerduty, secret="forged")
    assert forged.status_code == 401
    assert oncall.clocks()[0].state == "running"
    assert pagerduty_event(oncall, "incident.acknowledged", pagerduty).status_code == 200
    oncall.wait_idle()
    echo = pagerduty_event(oncall, "incident.acknowledged", pagerduty)
    assert echo.status_code == 200
    oncall.wait_idle()
    acks = [c for c in comments(oncall) if "(on call) is on it" in c]
    assert len(acks) == 1 and "**Tenex Engineer**" in acks[0]
    [clock] = oncall.clocks()
    assert (clock.state, clock.responder) == ("met", "Tenex Engineer")
    assert "Acknowledged by Tenex Engineer" in (page_of(fake_slack).text or "")
    assert pagerduty_event(oncall, "incident.resolved", pagerduty).status_code == 200
    oncall.wait_idle()
    assert any("This incident is resolved (Tenex Engineer" in c for c in comments(oncall))


def test_an_oversized_interaction_is_refused_before_it_is_read(oncall: Harness) -> None:
    big = b"payload=" + b"x" * (2 * 1024 * 1024)
    signed = {
        "/slack/interactions": slack_signature(SIGNING_SECRET, big, oncall.time()),
        "/pagerduty/webhooks": {"x-pagerduty-signature": "v1=" + "0" * 64},
    }
    for path, headers in signed.items():
        answer = oncall.http.post(f"{oncall.url}{path}", content=big, headers=headers)
        assert answer.status_code == 413
        unsigned = oncall.http.post(f"{oncall.url}{path}", content=big)  # not even read
        assert unsigned.status_code == 401
