"""The demo's support week: who does what, when (data for sla_sandbox/demo.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sla_sandbox.standins import FakeGitHub


class Demo(Protocol):
    """What a step needs from the running demo (sla_sandbox/demo.py provides it): the GitHub
    stand-in, signed deliveries, the page's buttons and a sweep. No import of sla_sandbox.demo:
    no cycle."""

    github: FakeGitHub

    def deliver(self, event: str, payload: dict[str, Any]) -> None: ...

    def click(self, action: str, clock_id: int, who: str) -> None: ...

    def sweep(self) -> None: ...

    def call(self, caller: str, key: str, message: str) -> None: ...

    def slack_request(self, who: str, text: str) -> None: ...

    def slack_reply(self, who: str, text: str) -> None: ...


REPO = "acme/support"
LINE, KIM = "+31201234567", "+31612345678"  # the escalation number, and Kim's phone
SHARED = "C0ACME"  # the Slack channel shared with Acme (Slack Connect)
CHANNEL_NAMES = {SHARED: "#acme-shared"}  # as people read the channel's id
# The deployment's policy (SLA_POLICY_FILE): the escalation number asks its question first;
# a request posted in the shared channel and marked with the ticket reaction opens an issue.
POLICY = f"""\
intake:
  slack:
    channels: {{{SHARED}: {REPO}}}
  phone:
    numbers: ["{LINE}"]
    open_in: {REPO}
    team: Acme support
    question: true
    callers:
      "{KIM}": {{name: Kim, customer: Acme Corp}}
"""
TZ = ZoneInfo("Europe/Amsterdam")
CUSTOMERS = {"dana": "Dana (a customer)", "lee": "Lee (a customer)", "kim": "Kim (a customer)"}
PROD = "Production down — many end users cannot work (Problem/Troubleshooting only)"
URGENT = "Urgent — blocking work or affecting end users (response within 1 business hour)"
NORMAL = "Normal — everything else (response by end of the next business day)"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def form(priority: str, **fields: str) -> str:
    """An issue form submission as GitHub renders it into the body."""
    sections = {"Priority": priority, **fields}
    return "\n\n".join(f"### {label}\n\n{value}" for label, value in sections.items())


@dataclass(frozen=True)
class Step:
    at: datetime
    text: str
    act: Callable[[Demo], None]


def install(demo: Demo) -> None:
    demo.deliver("installation", demo.github.payload("installation", "created", REPO))


def open_issue(title: str, body: str | None, user: str, labels: tuple[str, ...]) -> Any:
    def act(demo: Demo) -> None:
        issue = demo.github.open_issue(REPO, title=title, body=body, user=user, labels=labels)
        demo.deliver("issues", demo.github.payload("issues", "opened", REPO, issue["number"]))

    return act


def comment(n: int, who: str, text: str, association: str = "MEMBER") -> Any:
    def act(demo: Demo) -> None:
        made = demo.github.add_comment(REPO, n, text, who, association)
        payload = demo.github.payload("issue_comment", "created", REPO, n, comment=made["id"])
        demo.deliver("issue_comment", payload)

    return act


def relabel(n: int, who: str, label: str) -> Any:
    def act(demo: Demo) -> None:
        demo.github.add_label(REPO, n, label, who)
        demo.deliver(
            "issues", demo.github.payload("issues", "labeled", REPO, n, label=label, sender=who)
        )

    return act


def click(action: str, clock_id: int, who: str) -> Any:
    def act(demo: Demo) -> None:
        demo.click(action, clock_id, who)

    return act


def resolved_on_github(n: int) -> Any:
    """GitHub's `closed` delivery after sla-bot closed the issue for the on-call engineer."""

    def act(demo: Demo) -> None:
        demo.deliver("issues", demo.github.payload("issues", "closed", REPO, n))

    return act


def phone_call(caller: str, key: str, message: str) -> Any:
    """A call to the escalation number: the caller presses `key`, then leaves `message`."""

    def act(demo: Demo) -> None:
        demo.call(caller, key, message)

    return act


def slack_request(who: str, text: str) -> Any:
    """A customer posts `text` in the shared channel and marks it with the ticket reaction."""

    def act(demo: Demo) -> None:
        demo.slack_request(who, text)

    return act


def slack_reply(who: str, text: str) -> Any:
    """`who` replies in the thread of the last request opened from Slack."""

    def act(demo: Demo) -> None:
        demo.slack_reply(who, text)

    return act


def sweep(demo: Demo) -> None:
    demo.sweep()


PROBLEM = form(
    PROD,
    **{
        "Impact": "Nobody can check out: every order fails with HTTP 500.",
        "End users affected": "All end users",
        "Since when": "Sun 02:30 CET",
        "Steps to reproduce": "Add anything to the cart, press Pay.",
        "Logs": "```shell\nERROR payment-gateway: connection refused\n```",
    },
)
CHANGE = form(
    URGENT,
    **{
        "Environment": "Production",
        "Change to make": "Raise the API rate limit for tenant 42.",
        "Wanted date": "Today",
        "Rollback plan and risk": "Set it back; low risk.",
    },
)
QUESTION = form(
    NORMAL,
    **{
        "What are you trying to do?": "Export last month's invoices as CSV.",
        "What have you tried?": "The export button only gives PDF.",
        "Documentation you read": "_No response_",
    },
)
USER_ACCESS = form(
    PROD,
    **{
        "Add or remove": "Add",
        "Users": "sam@customer.example",
        "System and access level": "Billing, read-only",
    },
)

SCRIPT = [
    Step(at("2026-11-26T10:00"), "an admin installs sla-bot on acme/support", install),
    Step(
        at("2026-11-29T02:40"),
        "Dana opens #1 'Checkout is down' (Problem, Production down)",
        open_issue("Checkout is down", PROBLEM, "dana", ("type: problem",)),
    ),
    Step(
        at("2026-11-29T02:52"),
        "on-call engineer Ari, woken by PagerDuty, presses "
        "Acknowledge on the page (12 minutes, within 30)",
        click("acknowledge", 1, "ari"),
    ),
    Step(
        at("2026-11-29T03:05"),
        "Ari tells Dana what is going on",
        comment(1, "ari", "The payment gateway lost its database. Failing over now."),
    ),
    Step(at("2026-11-29T04:06"), "the sweep runs: an hour since Ari's last update to Dana", sweep),
    Step(
        at("2026-11-29T04:10"),
        "Ari presses Resolve on the page: checkout works again",
        click("resolve", 1, "ari"),
    ),
    Step(
        at("2026-11-29T04:10"),
        "GitHub reports the close: the post-mortem follow-up starts",
        resolved_on_github(1),
    ),
    Step(
        at("2026-11-30T09:20"),
        "Lee opens #2 'Raise our API rate limit' (Change, Urgent)",
        open_issue("Raise our API rate limit", CHANGE, "lee", ("type: change-request",)),
    ),
    Step(
        at("2026-11-30T09:48"),
        "engineer Bo answers #2 within the business hour",
        comment(2, "bo", "Done: tenant 42 now has 2,000 requests per minute."),
    ),
    Step(
        at("2026-11-30T10:05"),
        "Lee asks a follow-up on #2: the team owes a next response",
        comment(2, "lee", "Thanks! Can we have 5,000 next month?", "NONE"),
    ),
    Step(
        at("2026-11-30T10:30"),
        "Bo answers and asks for last month's traffic",
        comment(2, "bo", "Possibly: how many requests did tenant 42 peak at last month?"),
    ),
    Step(
        at("2026-11-30T10:31"),
        "Bo labels #2 'sla: waiting on customer'",
        relabel(2, "bo", "sla: waiting on customer"),
    ),
    Step(
        at("2026-11-30T11:00"),
        "Kim opens #3 'Export invoices as CSV?' (Guidance, Normal)",
        open_issue("Export invoices as CSV?", QUESTION, "kim", ("type: guidance",)),
    ),
    Step(
        at("2026-12-01T10:00"),
        "Lee opens #4 'Add Sam to billing' (Add/Remove User, Production down: out of scope)",
        open_issue("Add Sam to billing", USER_ACCESS, "lee", ("type: add-remove-user",)),
    ),
    Step(at("2026-12-01T10:35"), "Bo answers #4", comment(4, "bo", "Sam has read-only billing.")),
    Step(
        at("2026-12-01T14:00"),
        "Dana opens #5 through the API (no form, no priority)",
        open_issue("Refund for order 1187", None, "dana", ()),
    ),
    Step(
        at("2026-12-01T14:20"),
        "engineer Cy relabels #5 urgent: a customer is waiting",
        relabel(5, "cy", "priority: urgent"),
    ),
    Step(at("2026-12-01T14:50"), "Cy answers #5", comment(5, "cy", "Refund issued; 3-5 days.")),
    Step(
        at("2026-12-01T15:00"),
        "Lee sends the numbers on #2: the label comes off, the clock runs again",
        comment(2, "lee", "We peaked at 3,800 per minute.", "NONE"),
    ),
    Step(at("2026-12-01T17:05"), "the sweep runs (cron: sla-bot sweep)", sweep),
    Step(
        at("2026-12-02T09:15"),
        "Bo finally answers #3, late",
        comment(3, "bo", "Settings → Billing → Export → CSV. Sorry for the wait!"),
    ),
    Step(
        at("2026-12-02T09:20"),
        "Bo answers Lee on #2, late",
        comment(2, "bo", "Approved: 5,000 per minute from 1 January."),
    ),
    Step(
        at("2026-12-02T11:00"),
        "Ari links the post-mortem of #1",
        comment(1, "ari", "Post-mortem: https://wiki.acme.example/pm/2026-11-29-checkout"),
    ),
    Step(
        at("2026-12-02T14:00"),
        "Kim calls the escalation number, presses 2 (not down for many users), leaves a message",
        phone_call(KIM, "2", "Hi, Kim from Acme. Invoices show last month's prices. Urgent."),
    ),
    Step(
        at("2026-12-02T14:25"),
        "Bo answers the call's issue #6 within the business hour",
        comment(6, "bo", "Price cache cleared: invoices show this month's prices again."),
    ),
    Step(
        at("2026-12-02T15:00"),
        "Kim asks in the Slack channel shared with Acme and marks it with :ticket:",
        slack_request("kim", "Can we get invoices in EUR and USD?\nOur US office needs both."),
    ),
    Step(
        at("2026-12-02T15:10"),
        "Kim adds a detail in the Slack thread",
        slack_reply("kim", "From January, if possible."),
    ),
    Step(
        at("2026-12-02T15:30"),
        "Bo answers #7 on GitHub",
        comment(7, "bo", "Yes: Settings → Billing → Currencies, from 1 January."),
    ),
    Step(at("2026-12-03T09:00"), "the sweep runs: nothing more is due", sweep),
]
