"""What the phone tests share: the numbers, a served line with its policy, and what GitHub
and Slack were asked."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.store import repos
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from sla_sandbox.standins.twilio import AUTH_TOKEN
from tests.factories import SIGNING_SECRET, SUNDAY_3AM
from tests.harness import INSTALLATION, REPO, GitHubMock, Harness, MovableTime

LINE, CALLER = "+31201234567", "+31612345678"
ISSUE_URL = "https://github.com/acme/support/issues/42"


def opened(harness: Harness) -> list[dict[str, Any]]:
    return [json.loads(c.request.content) for c in harness.github.router.routes["open"].calls]


def edits(harness: Harness) -> list[str]:
    return [
        json.loads(c.request.content)["body"] for c in harness.github.router.routes["edit"].calls
    ]


def pages(slack: FakeSlack) -> list[Any]:
    return [m for m in slack.messages if m.channel == "#on-call" and not m.thread_ts]


@contextlib.contextmanager
def served_line(
    policy_text: str,
    *,
    tmp_path: Path,
    database_url: str,
    github: GitHubMock,
    slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> Iterator[Harness]:
    """The app with Twilio, Slack and PagerDuty on, `policy_text` as its policy, on a Sunday
    at 3 am, its repository tracked, and GitHub answering the call's issue as #42."""
    policy = tmp_path / "sla.yml"
    policy.write_text(policy_text)
    time.now = SUNDAY_3AM
    with Harness(
        database_url=database_url,
        github=github,
        slack=slack,
        time=time,
        private_key=app_key,
        sla_policy_file=policy,
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
        twilio_auth_token=AUTH_TOKEN,
    ) as harness:
        harness.services.db.tx(repos.add, REPO, INSTALLATION, time.now)
        harness.github.route("POST", f"/repos/{REPO}/issues", name="open").respond(
            201, json={"number": 42, "html_url": ISSUE_URL}
        )
        harness.github.route("PATCH", f"/repos/{REPO}/issues/42", name="edit").respond(
            200, json={"number": 42}
        )
        yield harness
