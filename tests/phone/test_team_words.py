"""The escalation number in a team's own words: a team whose paging priority is "Sev 1" reads
"Sev 1" in the call's issue title, on the page and in the PagerDuty incident; a caller who
presses 2 opens the next priority down under its name; a hang-up pages as "Sev 1" too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import FakePagerDuty
from sla_sandbox.standins.twilio import FakeTwilio
from tests.harness import REPO, GitHubMock, Harness, MovableTime
from tests.phone.support import served_line

LINE, CALLER = "+31201234567", "+31612345678"
TITLE = "phone call from +31 •••••• 678"
POLICY = f"""\
priorities:
  sev1: {{name: "Sev 1", within: 15m, calendar: 24/7, page: true}}
  sev2: {{name: "Sev 2", within: 2h}}
  sev3: {{name: "Sev 3", within: 3d}}
intake:
  phone:
    numbers: ["{LINE}"]
    open_in: {REPO}
    question: true
"""


@pytest.fixture
def severities(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> Iterator[Harness]:
    with served_line(
        POLICY,
        tmp_path=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'calls.db'}",
        github=github,
        slack=fake_slack,
        time=time,
        app_key=app_key,
        pagerduty=pagerduty,
    ) as harness:
        yield harness


@pytest.fixture
def twilio(severities: Harness) -> FakeTwilio:
    return FakeTwilio(severities.url, client=severities.http)


def opened(harness: Harness) -> list[dict[str, Any]]:
    return [json.loads(c.request.content) for c in harness.github.router.routes["open"].calls]


def pages(slack: FakeSlack) -> list[Any]:
    return [m for m in slack.messages if m.channel == "#on-call" and not m.thread_ts]


def test_a_call_that_pages_is_titled_paged_and_summed_up_in_the_team_s_paging_priority(
    severities: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    twilio.press(twilio.call(LINE, CALLER), "1")
    severities.wait_idle()
    [issue] = opened(severities)
    assert issue["title"] == f"Sev 1: {TITLE}"
    assert issue["labels"][0] == "priority: sev1"
    [page] = pages(fake_slack)
    assert f"Sev 1: {TITLE}" in (page.text or "")
    [trigger] = pagerduty.events
    assert trigger["payload"]["summary"].startswith("Sev 1: ")
    assert "Production down" not in json.dumps([issue, trigger, page.text])


def test_a_caller_who_presses_2_opens_the_next_priority_down_by_its_name_paging_nobody(
    severities: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    call = twilio.call(LINE, CALLER)
    twilio.press(call, "2")
    twilio.speak(call)
    severities.wait_idle()
    [issue] = opened(severities)
    assert issue["title"] == f"Sev 2: {TITLE}"
    assert "priority Sev 2, nobody was paged" in issue["body"]
    assert pages(fake_slack) == [] and pagerduty.events == []


def test_a_caller_who_hangs_up_before_answering_pages_in_the_team_s_paging_priority(
    severities: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    twilio.hang_up(twilio.call(LINE, CALLER))
    severities.wait_idle()
    [clock] = severities.clocks(42)
    assert clock.priority == "sev1"
    [page] = pages(fake_slack)
    assert f"Sev 1: {TITLE}" in (page.text or "")
    [hung_up] = [m for m in fake_slack.messages if m.thread_ts == page.ts]
    assert "hung up before describing the problem" in (hung_up.text or "")
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
