"""A team member's message shortcut: a modal asks the form's questions (views.open with the
click's trigger_id) and its submission opens the request for the message's thread, classified
by the form's rules. Production down is not offered from Slack unless the policy allows it;
a guest or a member of another workspace gets a notice, never the form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from app.store import clocks
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests.harness import MovableTime
from tests.slack_threads.conftest import (
    CHANNEL,
    INSTALLATION,
    POLICY,
    REPO,
    SIGNING,
    Served,
    slack_headers,
)
from tests.slack_threads.test_open import people

MEMBER = "U0BO"  # a full member of the workspace sla-bot is installed in


def interact(served: Served, payload: dict[str, Any]) -> httpx.Response:
    """An interaction as Slack posts it: form-encoded `payload=`, signed now."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = slack_headers(body, served.time(), SIGNING)
    headers["content-type"] = "application/x-www-form-urlencoded"
    response = served.http.post(f"{served.url}/slack/interactions", content=body, headers=headers)
    served.wait_idle()
    return response


def shortcut(served: Served, user: str = MEMBER) -> tuple[str, dict[str, Any] | None]:
    """A customer's message, and the modal a team member's shortcut on it opened."""
    people(served)
    served.slack.add_user(MEMBER, "bo")  # of the installing workspace
    root = served.slack.say(CHANNEL, "U0KIM", "Checkout fails for every customer")
    opened = len(served.slack.views)
    assert interact(served, served.slack.shortcut(CHANNEL, root, user)).status_code == 200
    views = served.slack.views
    return root, views[-1] if len(views) > opened else None


def options(view: dict[str, Any], block: str) -> list[str]:
    found = next(b for b in view["blocks"] if b.get("block_id") == block)
    return [o["value"] for o in found["element"]["options"]]


def test_the_shortcut_opens_the_forms_questions_without_production_down(
    served: Served,
) -> None:
    _, view = shortcut(served)
    assert view is not None and view["callback_id"] == "sla_request_form"
    assert "problem" in options(view, "type") and "guidance" in options(view, "type")
    assert options(view, "priority") == ["urgent", "normal"]  # no page from Slack by default
    assert options(view, "audience")[-1] == "All end users"


def test_a_submitted_form_opens_the_request_with_its_answers(served: Served) -> None:
    root, view = shortcut(served)
    assert view is not None
    chosen = {"type": "change-request", "priority": "urgent"}
    assert interact(served, served.slack.submit(view, MEMBER, chosen)).status_code == 200
    issue = served.fake.issue(REPO, 1)
    names = [label["name"] for label in issue["labels"]]
    assert names == ["priority: urgent", "type: change-request"]
    assert "Checkout fails for every customer" in issue["body"]
    assert "Requested by **kim (Acme Corp)**" in issue["body"]  # the customer, not bo
    [clock] = served.services.db.tx(clocks.of_issue, REPO, 1)
    assert clock.priority == "urgent" and clock.started_at.timestamp() == int(float(root))
    # The same thread again: the shortcut says so, and opens nothing more.
    interact(served, served.slack.shortcut(CHANNEL, root, MEMBER))
    assert "is a request already: <" in json.dumps(served.slack.views[-1])


def test_a_guest_or_a_customer_gets_a_notice_not_the_form(served: Served) -> None:
    served.slack.add_user("U0GUEST", "gus", guest=True)
    _, view = shortcut(served, "U0GUEST")
    assert view is not None and "submit" not in view
    assert "Only members of the support team" in json.dumps(view)


def test_a_submission_naming_production_down_is_refused_unless_the_policy_allows(
    served: Served,
) -> None:
    _, view = shortcut(served)
    assert view is not None
    forged = {
        **view,
        "blocks": [
            {**b, "element": {**b["element"], "options": [*b["element"]["options"], _down()]}}
            if b.get("block_id") == "priority"
            else b
            for b in view["blocks"]
        ],
    }
    chosen = {"type": "problem", "priority": "production-down", "audience": "All end users"}
    answer = interact(served, served.slack.submit(forged, MEMBER, chosen))
    assert answer.json()["response_action"] == "errors"
    assert not _exists(served)


def _down() -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": "Production down"}, "value": "production-down"}


def _exists(served: Served) -> bool:
    try:
        served.fake.issue(REPO, 1)
    except KeyError:
        return False
    return True


@pytest.fixture
def paging(tmp_path: Path, fake_slack: FakeSlack, time: MovableTime) -> Iterator[Served]:
    """A policy that lets the shortcut open production down."""
    fake = FakeGitHub(time=time)
    policy = POLICY.replace("    channels:", "    production_down: true\n    channels:")
    with fake.serve():
        fake.add_repo(REPO, INSTALLATION)
        app = Served(tmp_path, fake, fake_slack, time, policy)
        app.server.start()
        try:
            yield app
        finally:
            app.http.close()
            app.server.stop()


def test_production_down_from_slack_follows_the_scope_rule_where_the_policy_allows_it(
    paging: Served,
) -> None:
    _, view = shortcut(paging)
    assert view is not None and "production-down" in options(view, "priority")
    chosen = {"type": "problem", "priority": "production-down", "audience": "A few (up to 10)"}
    interact(paging, paging.slack.submit(view, MEMBER, chosen))
    issue = paging.fake.issue(REPO, 1)
    assert [label["name"] for label in issue["labels"]] == ["priority: urgent", "type: problem"]
    intake = paging.fake.comments(REPO, 1)[0]["body"]
    assert "affect many or all end users: this one is **Urgent**" in intake


def test_a_trigger_older_than_three_seconds_opens_no_modal(served: Served) -> None:
    people(served)
    served.slack.add_user(MEMBER, "bo")
    root = served.slack.say(CHANNEL, "U0KIM", "Slow dashboard")
    click = served.slack.shortcut(CHANNEL, root, MEMBER)
    served.time.advance(seconds=4)  # Slack's trigger_id lives 3 s
    interact(served, click)
    assert served.slack.views == []
    assert any(c.method == "views.open" for c in served.slack.calls)
