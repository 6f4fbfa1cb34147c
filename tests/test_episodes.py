"""Where the rules meet, end to end through signed deliveries: the sequences issue 24
reproduced, each now one page, one incident and no false alert."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.factories import (
    PD_SECRET,
    PROD_LABELS,
    click,
    label,
    opened_problem,
    pagerduty_signature,
    payload,
)
from tests.harness import REPO, GitHubMock, Harness, World, comments
from tests.harness import WORLD_T0 as T0

PAGES = "#on-call"


def pages(slack: FakeSlack) -> list[object]:
    return [m for m in slack.messages if m.channel == PAGES and not m.thread_ts]


def relabeled(*names: str, at: str) -> dict[str, object]:
    return payload(
        "issues.labeled",
        issue__labels=[label(n) for n in names],
        label=label(names[-1]),
        issue__updated_at=at,
    )


def acknowledged_incident(harness: Harness) -> None:
    """A production-down issue, paged, and acknowledged from the page 4 minutes later."""
    harness.deliver("issues", opened_problem("All end users"))
    harness.time.advance(minutes=4)
    click(harness, "acknowledge")
    harness.wait_idle()


def test_a_second_priority_label_on_an_acknowledged_incident_pages_nobody_again(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    acknowledged_incident(oncall)
    oncall.deliver(
        "issues",
        relabeled(
            "type: problem",
            "priority: production-down",
            "priority: urgent",
            at="2026-11-29T02:10:00Z",
        ),
    )
    oncall.wait_idle()
    assert len(pages(fake_slack)) == 1 and len(pagerduty.incidents) == 1
    result = oncall.sweep(oncall.time.now + timedelta(minutes=40))
    assert (result.breached, result.escalated) == (0, 0)


def test_downgrading_an_acknowledged_incident_resolves_it_and_never_breaches(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    acknowledged_incident(oncall)
    oncall.time.advance(minutes=10)
    unlabel = payload(
        "issues.unlabeled",
        issue__labels=[label("type: problem"), label("priority: urgent")],
        label=label("priority: production-down"),
        issue__updated_at="2026-11-29T02:14:00Z",
    )
    oncall.deliver("issues", unlabel)
    oncall.wait_idle()
    [incident] = pagerduty.incidents
    assert incident.status == "resolved"
    assert [c.state for c in oncall.clocks()] == ["met"]  # no new first response owed
    result = oncall.sweep(oncall.time.now + timedelta(days=3))
    assert result.breached == 0
    status = pages(fake_slack)[0].text or ""  # type: ignore[attr-defined]
    assert "No longer Production down (now Urgent)" in status


def pagerduty_resolved_by(
    harness: Harness,
    agent_type: str,
    pagerduty: FakePagerDuty,
) -> httpx.Response:
    body = json.dumps(
        {
            "event": {
                "id": "01DEN4HPBQAJE7QW6UMMGKLG5M",
                "event_type": "incident.resolved",
                "resource_type": "incident",
                "occurred_at": "2026-11-29T02:30:00.000Z",
                "agent": {"id": "PSERVICE", "summary": "Checkout", "type": agent_type},
                "data": {
                    "id": "PGR0VU2",
                    "type": "incident",
                    "status": "resolved",
                    "incident_key": pagerduty.incidents[0].dedup_key,
                    "title": "Production down",
                },
            }
        }
    ).encode()
    signature = pagerduty_signature(body)
    headers = {"content-type": "application/json", "x-pagerduty-signature": signature}
    return harness.http.post(f"{harness.url}/pagerduty/webhooks", content=body, headers=headers)


def test_a_pagerduty_auto_resolve_leaves_the_customers_issue_open(
    oncall: Harness,
    pagerduty: FakePagerDuty,
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    assert pagerduty_resolved_by(oncall, "service_reference", pagerduty).status_code == 200
    oncall.wait_idle()
    closes = [c for c in oncall.github.calls() if c.request.method == "PATCH"]
    assert closes == [] and not [c for c in comments(oncall) if "resolved" in c]
    assert [c.state for c in oncall.clocks()] == ["running"]


def test_acknowledge_after_resolve_does_not_tell_the_customer_on_it(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    click(oncall, "resolve")
    oncall.wait_idle()
    click(oncall, "acknowledge")  # a stale Slack client, a second engineer
    oncall.wait_idle()
    assert not [c for c in comments(oncall) if "is on it" in c]
    assert "Resolved by" in (pages(fake_slack)[0].text or "")  # type: ignore[attr-defined]


def test_an_answer_on_github_acknowledges_pagerduty_and_the_page(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.time.advance(minutes=6)
    answer = payload(
        "issue_comment.created",
        issue__labels=PROD_LABELS,
        comment__author_association="MEMBER",
        comment__user={"login": "kim-eng", "id": 9, "type": "User"},
        comment__created_at="2026-11-29T02:06:00Z",
    )
    oncall.deliver("issue_comment", answer)
    oncall.wait_idle()
    [incident] = pagerduty.incidents
    assert incident.status == "acknowledged"
    page = pages(fake_slack)[0]
    assert "Answered on GitHub by kim-eng" in (page.text or "")  # type: ignore[attr-defined]
    assert oncall.sweep(oncall.time.now + timedelta(minutes=20)).escalated == 0


@pytest.mark.anyio
async def test_reconcile_keeps_clocks_when_the_policy_renames_a_priority_label(
    world: World,
) -> None:
    fake = world.fake
    fake.open_issue(
        REPO, title="Slow", body=None, user="kim", created_at=T0, labels=("priority: urgent",)
    )
    assert await world.reconcile(T0 + timedelta(minutes=10)) == {"created": 1}
    world.use_policy('priorities:\n  urgent: {label: "P2: urgent"}\n')
    assert await world.reconcile(T0 + timedelta(minutes=20)) == {"unchanged": 1}
    assert [c.state for c in world.clocks(1)] == ["running"]


@pytest.mark.anyio
async def test_reconcile_repairs_a_lost_close_of_an_answered_incident(world: World) -> None:
    fake = world.fake
    fake.open_issue(
        REPO,
        title="Down",
        body=None,
        user="kim",
        created_at=T0,
        labels=("priority: production-down",),
    )
    fake.add_comment(REPO, 1, "on it", "bo", "MEMBER", at=T0 + timedelta(minutes=5))
    await world.reconcile(T0 + timedelta(minutes=10))
    assert {c.kind for c in world.all_clocks(1) if c.state == "running"} == {"update"}
    fake.close_issue(REPO, 1, "bo", at=T0 + timedelta(minutes=30))  # its delivery is lost
    await world.reconcile(T0 + timedelta(minutes=40))
    assert [c for c in world.all_clocks(1) if c.state == "running" and c.kind != "postmortem"] == []


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """PagerDuty's webhooks arrive on their own time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def test_a_trigger_whose_answer_was_lost_leaves_one_incident_resolved(
    oncall: Harness,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.lose_answers = 1  # PagerDuty takes the trigger; its answer never arrives
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.wait_idle()
    assert [i.status for i in pagerduty.incidents] == ["triggered"]
    click(oncall, "acknowledge")  # both before the trigger's retry
    click(oncall, "resolve")
    oncall.wait_idle()
    for _ in range(4):  # the retries come due
        oncall.time.advance(seconds=30)
        oncall.sweep(oncall.time.now)
    assert [i.status for i in pagerduty.incidents] == ["resolved"]


def test_two_stores_on_one_routing_key_open_two_incidents(
    oncall: Harness,
    pagerduty: FakePagerDuty,
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    app_key: str,
) -> None:
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.wait_idle()
    with Harness(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        github=github,
        slack=fake_slack,
        time=oncall.time,
        private_key=app_key,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
    ) as other:  # a fresh store: its first clock is clock 1 too
        other.deliver("issues", opened_problem("All end users"))
        other.wait_idle()
    assert len({i.dedup_key for i in pagerduty.incidents}) == len(pagerduty.incidents) == 2
    click(oncall, "resolve")
    oncall.wait_idle()
    assert [i.status for i in pagerduty.incidents] == ["resolved", "triggered"]


def test_pagerduty_reporting_back_every_change_runs_the_loop_once(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.webhook(f"{oncall.url}/pagerduty/webhooks", PD_SECRET)
    oncall.deliver("issues", opened_problem("All end users"))
    oncall.wait_idle()
    [incident] = pagerduty.incidents
    pagerduty.act(
        incident,
        "acknowledge",
        {"id": "PUSER", "summary": "Tenex Engineer", "type": "user_reference"},
    )
    wait_for(lambda: [c.state for c in oncall.clocks()] == ["met"])
    oncall.wait_idle()
    click(oncall, "resolve")  # its echo (agent: the integration) comes back too
    oncall.wait_idle()
    wait_for(lambda: incident.status == "resolved")
    time.sleep(0.2)
    oncall.wait_idle()
    said = comments(oncall)
    assert len([c for c in said if "is on it" in c]) == 1
    assert len([c for c in said if "This incident is resolved" in c]) == 1
    assert len(pagerduty.incidents) == 1
