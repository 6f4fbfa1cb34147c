"""What the phone tests share: the numbers, and what GitHub and Slack were asked."""

from __future__ import annotations

import json
from typing import Any

from sla_sandbox.standins import FakeSlack
from tests.harness import Harness

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
