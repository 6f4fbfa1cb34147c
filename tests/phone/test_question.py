"""The escalation number's question (`intake.phone.question`) and its known callers: "press 1
if production is down for many of your users, 2 for anything else". 1, another key, no key or
hanging up page as every call does; 2 records a message that opens an urgent request and pages
nobody. A caller the policy lists is named on the issue and the page; another still pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import FakePagerDuty
from sla_sandbox.standins.twilio import FakeTwilio
from tests.factories import SUNDAY_3AM
from tests.harness import REPO, GitHubMock, Harness, MovableTime
from tests.phone.support import CALLER, LINE, edits, opened, pages, served_line

STRANGER = "+31698765432"
POLICY = f"""\
intake:
  phone:
    numbers: ["{LINE}"]
    open_in: {REPO}
    team: Acme support
    question: true
    callers:
      "{CALLER}": {{name: Kim, customer: acme}}
customers:
  acme: {{name: Acme Corp, repositories: ["{REPO}"]}}
"""


@pytest.fixture
def asking(
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
def twilio(asking: Harness) -> FakeTwilio:
    return FakeTwilio(asking.url, client=asking.http)


def test_the_caller_is_asked_first_and_nobody_is_paged_before_the_answer(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    call = twilio.call(LINE, CALLER)
    assert call.answer is not None
    gather, _ = call.answer.first("Gather")
    assert gather["numDigits"] == "1" and gather["action"].endswith("/twilio/voice/answered")
    assert call.answer.said() == [
        "You have reached Acme support. If production is down for many of your users, press "
        "1. For anything else, press 2."
    ]
    asking.wait_idle()
    assert pages(fake_slack) == [] and pagerduty.events == [] and opened(asking) == []


@pytest.mark.parametrize("answer", ["1", "9", None], ids=["pressed-1", "pressed-9", "no-key"])
def test_a_caller_who_presses_1_or_anything_but_2_pages_with_the_clock_from_the_call(
    asking: Harness,
    twilio: FakeTwilio,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
    answer: str | None,
) -> None:
    call = twilio.call(LINE, CALLER)
    asking.time.advance(seconds=6)  # the question took its time
    reply = twilio.press(call, answer) if answer is not None else twilio.no_key(call)
    assert reply.status_code == 200 and call.answer is not None
    assert call.answer.said()[0].startswith("You have reached the production-down line")
    assert call.answer.first("Record")[0]["action"].endswith("/twilio/voice/recorded")
    asking.wait_idle()
    assert len(pages(fake_slack)) == 1
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
    [issue] = opened(asking)
    assert issue["labels"] == ["priority: production-down", "type: problem"]
    [clock] = asking.clocks(42)
    assert clock.started_at == SUNDAY_3AM  # the call's time, not the answer's


def test_a_caller_who_presses_2_leaves_a_message_that_opens_an_urgent_request_paging_nobody(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    call = twilio.call(LINE, CALLER)
    assert twilio.press(call, "2").status_code == 200
    assert call.answer is not None and call.answer.first("Record")
    closing = twilio.speak(call, seconds=30)
    assert closing.status_code == 200 and call.answer is not None
    assert "recorded as an urgent request" in call.answer.said()[0]
    asking.wait_idle()
    assert pages(fake_slack) == [] and pagerduty.events == []
    [issue] = opened(asking)
    assert issue["labels"] == ["priority: urgent", "type: problem"]
    assert issue["title"] == "Urgent: phone call from +31 •••••• 678"
    assert "The caller pressed 2" in issue["body"] and "nobody was paged" in issue["body"]
    assert twilio.recording_url(call.params["RecordingSid"]) in edits(asking)[-1]
    [clock] = asking.clocks(42)
    assert clock.priority == "urgent" and clock.started_at == SUNDAY_3AM
    assert clock.paged_at is None


def test_a_repeated_answer_opens_one_request(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    call = twilio.call(LINE, CALLER)
    assert call.answer is not None
    action = call.answer.first("Gather")[0]["action"]
    twilio.press(call, "2")
    retried = twilio.post(action, {**call.params, "Digits": "1"})  # a second answer (a retry)
    assert retried.status_code == 200  # the first answer stands
    asking.wait_idle()
    assert len(opened(asking)) == 1 and pages(fake_slack) == []
    [clock] = asking.clocks(42)
    assert clock.priority == "urgent"


def test_a_caller_who_hangs_up_during_the_question_still_pages(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    call = twilio.call(LINE, CALLER)
    assert twilio.hang_up(call).status_code == 200
    asking.wait_idle()
    assert len(pages(fake_slack)) == 1 and len(pagerduty.events) == 1
    assert "the caller hung up before describing the problem" in edits(asking)[-1]


def test_a_known_caller_is_named_with_their_customer_on_the_issue_and_the_page(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    twilio.press(twilio.call(LINE, CALLER), "1")
    asking.wait_idle()
    [issue] = opened(asking)
    assert f"- **Caller:** Kim (Acme Corp), {CALLER}" in issue["body"]
    assert "Kim (Acme Corp)" in str(pages(fake_slack)[0].blocks)


def test_a_caller_the_policy_does_not_list_still_pages_and_the_issue_says_not_recognised(
    asking: Harness, twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    twilio.no_key(twilio.call(LINE, STRANGER))
    asking.wait_idle()
    assert len(pages(fake_slack)) == 1
    [issue] = opened(asking)
    assert f"- **Caller:** {STRANGER} (not recognised" in issue["body"]
