"""Only the on-call team's hands (issue 25): a click on the page's buttons counts only from the
workspace sla-bot is installed in, on the page's own message, by a full member (no guest, no
Slack Connect member of another organisation) and, with `oncall.responders`, by one of them.
A refused click is told so (ephemeral) and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from time import monotonic, sleep
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from app.http.interactions import REFUSED, Page, refusal
from app.http.signatures import slack_headers
from app.notify.slack_directory import Member
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.factories import SIGNING_SECRET, SUNDAY_3AM, opened, opened_problem
from tests.harness import REPO, GitHubMock, Harness, MovableTime, mock_writes

DANA = "U0DANA"


def make_harness(
    tmp_path: Path,
    github: GitHubMock,
    slack: FakeSlack,
    time: MovableTime,
    key: str,
    pagerduty: FakePagerDuty,
    policy: str,
) -> Harness:
    (tmp_path / "sla.yml").write_text(policy)
    time.now = SUNDAY_3AM
    return Harness(
        database_url=f"sqlite:///{tmp_path / 'clicks.db'}",
        github=github,
        slack=slack,
        time=time,
        private_key=key,
        sla_policy_file=tmp_path / "sla.yml",
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
    )


@pytest.fixture
def paged(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> Iterator[Harness]:
    """A production-down issue paged; responders: the S0ONCALL group (dana and kim)."""
    policy = "oncall:\n  responders: S0ONCALL\n"
    with make_harness(tmp_path, github, fake_slack, time, app_key, pagerduty, policy) as h:
        mock_writes(h)
        h.github.route("PATCH", f"/repos/{REPO}/issues/7").respond(200, json={})
        fake_slack.add_user(DANA)
        fake_slack.add_group("S0ONCALL", [DANA, "U0KIM"])
        h.deliver("issues", opened_problem("All end users"))
        yield h


def the_page(slack: FakeSlack) -> Any:
    [page] = [m for m in slack.messages if m.channel == "#on-call" and not m.thread_ts]
    return page


def click(harness: Harness, **change: Any) -> httpx.Response:
    """Dana's Acknowledge on the page, as Slack sends it; `change` replaces parts of it."""
    assert harness.slack is not None
    page = the_page(harness.slack)
    data: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0", "domain": "acme"},
        "user": {"id": DANA, "username": "dana", "name": "dana", "team_id": "T0"},
        "container": {"type": "message", "message_ts": page.ts, "channel_id": page.channel_id},
        "channel": {"id": page.channel_id, "name": "on-call"},
        "response_url": harness.slack.response_url,
        "actions": [{"action_id": "sla_acknowledge", "value": "1", "type": "button"}],
    }
    data.update(change)
    body = urlencode({"payload": json.dumps(data)}).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        **slack_headers(SIGNING_SECRET, body, harness.time()),
    }
    return harness.http.post(f"{harness.url}/slack/interactions", content=body, headers=headers)


def unchanged(harness: Harness, pagerduty: FakePagerDuty) -> bool:
    harness.wait_idle()
    comments = [c for c in harness.github.calls() if "(on call)" in c.request.content.decode()]
    return (
        harness.clocks()[0].state == "running"
        and not comments
        and [e["event_action"] for e in pagerduty.events] == ["trigger"]
    )


def told(slack: FakeSlack, expect: int = 0) -> list[str]:
    """The ephemeral answers posted to the click's response_url (after the click's answer:
    waits a little for `expect` of them)."""
    deadline = monotonic() + 5
    while len(slack.responses) < expect and monotonic() < deadline:
        sleep(0.01)
    return [r["text"] for r in slack.responses if r.get("response_type") == "ephemeral"]


def test_a_click_by_a_responder_on_the_page_counts(
    paged: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    assert click(paged).status_code == 200
    paged.wait_idle()
    assert paged.clocks()[0].state == "met"
    assert [i.status for i in pagerduty.incidents] == ["acknowledged"]
    assert told(fake_slack) == []


@pytest.mark.parametrize(
    "change",
    [
        {"team": {"id": "T0OTHER", "domain": "evil"}},
        {
            "channel": {"id": "C0ELSEWHERE"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0ELSEWHERE"},
        },
        {"message_ts": "other"},
        {"user": {"id": "U0EXT", "name": "mallory", "team_id": "T0OTHER"}},
        {"user": {"id": "U0CONNECT", "name": "sam", "team_id": "T0"}},
        {"user": {"id": "U0GUEST", "name": "gus", "team_id": "T0"}},
        {"user": {"id": "U0OUTSIDER", "name": "olly", "team_id": "T0"}},
        {"value": "2"},
        {"value": "999"},
    ],
    ids=[
        "other-team",
        "other-channel",
        "other-message",
        "external-user",
        "slack-connect",
        "guest",
        "not-a-responder",
        "a-non-paging-clock",
        "no-such-clock",
    ],
)
def test_a_refused_click_is_told_so_and_changes_nothing(
    paged: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty, change: dict[str, Any]
) -> None:
    fake_slack.add_user("U0CONNECT", team_id="T0OTHER", stranger=True)  # a Slack Connect member
    fake_slack.add_user("U0GUEST", guest=True)
    fake_slack.add_user("U0OUTSIDER")  # a full member, not in the on-call group
    mock_writes(paged, 8)
    paged.deliver("issues", opened(issue__number=8, issue__title="A normal one"))  # clock 2
    assert [c.priority for c in paged.clocks(8)] == ["urgent"]
    if "message_ts" in change:
        container = {"type": "message", "channel_id": the_page(fake_slack).channel_id}
        change = {"container": {**container, "message_ts": change["message_ts"]}}
    if "value" in change:
        change = {"actions": [{"action_id": "sla_resolve", "value": change["value"]}]}
    answer = click(paged, **change)
    assert answer.status_code == 200 and answer.json()["text"] == REFUSED
    assert told(fake_slack, expect=1) == [REFUSED]
    assert unchanged(paged, pagerduty)
    assert "Acknowledged" not in (the_page(fake_slack).text or "")


def test_without_responders_any_full_member_may_press(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> None:
    with make_harness(tmp_path, github, fake_slack, time, app_key, pagerduty, "{}\n") as h:
        mock_writes(h)
        fake_slack.add_user(DANA)
        fake_slack.add_user("U0GUEST", guest=True)
        h.deliver("issues", opened_problem("All end users"))
        guest = {"user": {"id": "U0GUEST", "name": "gus", "team_id": "T0"}}
        assert click(h, **guest).json()["text"] == REFUSED
        assert unchanged(h, pagerduty)
        click(h)
        h.wait_idle()
        assert h.clocks()[0].state == "met"
        assert not [c for c in fake_slack.calls if c.method == "usergroups.users.list"]


def test_slack_is_asked_once_and_the_group_again_after_five_minutes(
    paged: Harness, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("U0OUTSIDER")
    outsider = {"user": {"id": "U0OUTSIDER", "name": "olly", "team_id": "T0"}}
    assert click(paged, **outsider).json()["text"] == REFUSED
    fake_slack.add_group("S0ONCALL", [DANA, "U0KIM", "U0OUTSIDER"])  # olly joins on-call
    assert click(paged, **outsider).json()["text"] == REFUSED  # cached: not yet
    paged.time.advance(minutes=5, seconds=1)
    assert click(paged, **outsider).status_code == 200 and not told(fake_slack)[2:]
    paged.wait_idle()
    assert paged.clocks()[0].state == "met"
    methods = [c.method for c in fake_slack.calls]
    assert methods.count("auth.test") == 1 and methods.count("usergroups.users.list") == 2


def test_when_slack_cannot_be_asked_the_click_is_refused_with_the_reason(
    paged: Harness, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    fake_slack.error_next("missing_scope")  # auth.test: the app lacks a scope
    answer = click(paged)
    assert "could not check with Slack" in answer.json()["text"]
    assert "missing_scope" in answer.json()["text"]
    assert unchanged(paged, pagerduty)
    paged.time.advance(seconds=1)
    assert click(paged).status_code == 200
    paged.wait_idle()
    assert paged.clocks()[0].state == "met"


def test_a_response_url_that_is_not_slacks_is_never_called(
    paged: Harness, fake_slack: FakeSlack
) -> None:
    answer = click(paged, team={"id": "T0OTHER"}, response_url="http://169.254.169.254/latest")
    assert answer.json()["text"] == REFUSED  # in the answer's body only
    assert fake_slack.responses == []


# -- the decision itself, as data --

PAGE = Page(channel="C0PAGE", ts="1700000000.000100")
FULL = Member(id=DANA, team_id="T0", guest=False, stranger=False)
CLICK: dict[str, Any] = {
    "team": {"id": "T0"},
    "user": {"id": DANA, "team_id": "T0"},
    "container": {"channel_id": "C0PAGE", "message_ts": "1700000000.000100"},
}


@pytest.mark.parametrize(
    ("payload", "page", "member", "responders", "reason"),
    [
        (CLICK, PAGE, FULL, None, None),
        (CLICK, PAGE, FULL, frozenset({DANA}), None),
        (CLICK, None, FULL, None, "the button names no page"),
        ({**CLICK, "team": {"id": "T9"}}, PAGE, FULL, None, "a click from another workspace"),
        ({**CLICK, "team": None}, PAGE, FULL, None, "a click from another workspace"),
        (
            {**CLICK, "container": {"channel_id": "C0PAGE", "message_ts": "1.0"}},
            PAGE,
            FULL,
            None,
            "not the page's message",
        ),
        (
            {k: v for k, v in CLICK.items() if k != "container"}
            | {"channel": {"id": "C0PAGE"}, "message": {"ts": PAGE.ts}},
            PAGE,
            FULL,
            None,
            None,
        ),
        (
            {**CLICK, "user": {"id": DANA, "team_id": "T9"}},
            PAGE,
            FULL,
            None,
            "a user from another organisation",
        ),
        (CLICK, PAGE, None, None, "a user from another organisation"),
        (CLICK, PAGE, Member(DANA, "T9", False, False), None, "a user from another organisation"),
        (CLICK, PAGE, Member(DANA, "T0", False, True), None, "a user from another organisation"),
        (CLICK, PAGE, Member(DANA, "T0", True, False), None, "a guest"),
        (
            CLICK,
            PAGE,
            Member("U0KIM", "T0", False, False),
            None,
            "a user from another organisation",
        ),
        (CLICK, PAGE, FULL, frozenset({"U0KIM"}), "not in oncall.responders"),
        (CLICK, PAGE, FULL, frozenset(), "not in oncall.responders"),
    ],
)
def test_refusal(
    payload: dict[str, Any],
    page: Page | None,
    member: Member | None,
    responders: frozenset[str] | None,
    reason: str | None,
) -> None:
    assert refusal(payload, team="T0", page=page, member=member, responders=responders) == reason
