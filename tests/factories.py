"""Test data as GitHub, Slack and PagerDuty send it: real-shaped payloads, the issue forms
filled in, and their signatures. Tests take them from here, never from another test module."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from app.sla.clock import Clock
from app.sla.customers import Account
from tests.classifier.render import load_form, render_submission, sample_answers

if TYPE_CHECKING:
    from tests.harness import Harness

PAYLOADS = Path(__file__).with_name("payloads")
FORMS = Path(__file__).resolve().parents[1] / ".github" / "ISSUE_TEMPLATE"
SECRET = "It's a Secret to Everybody"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PD_SECRET = "pd-webhook-secret-0123456789"
SUPPORT_CHANNEL = "C0SUPPORT"  # the channel whose requests open issues
URGENT = "Urgent — blocking work or affecting end users (response within 1 business hour)"


PROD = (
    "Production down — many end users cannot work (Problem/Troubleshooting only; on-call is "
    "paged, response within 30 minutes 24/7)"
)
SUNDAY_3AM = datetime.fromisoformat("2026-11-29T03:00:05+01:00")


# Payloads and forms


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A real-shaped payload from tests/payloads, with dotted-path changes (`issue.body=...`)."""
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = copy.deepcopy(value)
    return data


def label(name: str) -> dict[str, Any]:
    return {"id": abs(hash(name)) % 10**9, "name": name, "color": "ededed", "default": False}


PROD_LABELS = [label("type: problem"), label("priority: production-down")]


def form_body(form: str, priority: str) -> str:
    spec = load_form(FORMS / f"{form}.yml")
    return render_submission(spec, sample_answers(spec, priority))


def opened(form: str = "problem", priority: str = URGENT, **changes: object) -> dict[str, object]:
    return payload("issues.opened", issue__body=form_body(form, priority), **changes)


def problem_form(priority: str, affected: str) -> str:
    """The shipped Problem/Troubleshooting form, submitted with these two answers."""
    spec = load_form(FORMS / "problem.yml")
    answers = sample_answers(spec, priority)
    answers["end_users_affected"] = affected
    return render_submission(spec, answers)


def opened_problem(affected: str, created: str = "2026-11-29T02:00:00Z") -> dict[str, object]:
    return payload(
        "issues.opened", issue__body=problem_form(PROD, affected), issue__created_at=created
    )


def reaction(ts: str, emoji: str = "ticket", user: str = "U0KIM") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": emoji,
        "item_user": "U0KIM",
        "item": {"type": "message", "channel": SUPPORT_CHANNEL, "ts": ts},
        "event_ts": ts,
    }


# Signatures


def sign(body: bytes, secret: str = SECRET) -> str:
    """GitHub's algorithm: HMAC-SHA256 of the raw body, hex, prefixed `sha256=`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pagerduty_signature(body: bytes, secret: str = PD_SECRET) -> str:
    """PagerDuty's V3 webhook signature: `v1=` and the HMAC-SHA256 of the body, hex."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(
    payload: dict[str, object], delivery: str, secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    """A delivery as GitHub sends it to a server of its own (a process under test)."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "content-type": "application/json",
        "x-github-event": "issues",
        "x-github-delivery": delivery,
        "x-hub-signature-256": f"sha256={digest}",
    }


ENGINEER = {"id": "U0ONCALL", "username": "dana.oncall", "name": "dana.oncall", "team_id": "T0"}


def click(
    harness: Harness,
    action: str,
    clock_id: int = 1,
    *,
    secret: str = SIGNING_SECRET,
    age: timedelta = timedelta(0),
) -> httpx.Response:
    """A block_actions request as Slack sends it for a button on the page, by a full member
    of the workspace."""
    assert harness.slack is not None
    harness.slack.add_user(ENGINEER["id"])
    pages = [m for m in harness.slack.messages if m.channel == "#on-call" and not m.thread_ts]
    channel, ts = (pages[0].channel_id, pages[0].ts) if pages else ("C0ONCALL", "1.2")
    data: dict[str, Any] = {
        "type": "block_actions",
        "user": ENGINEER,
        "api_app_id": "A0SLABOT",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "trigger_id": "1.2.abc",
        "team": {"id": "T0", "domain": "acme"},
        "channel": {"id": channel, "name": "on-call"},
        "response_url": harness.slack.response_url,
        "actions": [
            {
                "action_id": f"sla_{action}",
                "block_id": f"sla-page-{clock_id}",
                "text": {"type": "plain_text", "text": action.title()},
                "value": str(clock_id),
                "type": "button",
                "action_ts": "1.3",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(data)}).encode()
    stamp = str(int((harness.time() - age).timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": f"v0={digest.hexdigest()}",
    }
    return harness.http.post(f"{harness.url}/slack/interactions", content=body, headers=headers)


# Stored records

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MEETING_T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MEETING_NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
MEETING_SINCE = MEETING_NOW - timedelta(days=14)
MEETING_LATE = MEETING_T0 + timedelta(hours=3)
ACME = Account("acme", "Acme Corp", ("acme/support",), ("customer: acme",))


def stored_clock(n: int, kind: str = "response", repo: str = "acme/support", **kw: object) -> Clock:
    """A clock as the store keeps it: by default an urgent first response met in 20 minutes."""
    fields: dict[str, object] = {
        "id": n,
        "installation_id": 1,
        "repo": repo,
        "issue_number": n,
        "kind": kind,
        "priority": "urgent",
        "request_type": "problem",
        "state": "met",
        "started_at": MEETING_T0,
        "due_at": MEETING_T0 + timedelta(hours=1),
        "warn_at": None,
        "warned_at": None,
        "breached_at": None,
        "met_at": MEETING_T0 + timedelta(minutes=20),
        "ended_at": None,
        "responder": "bo",
        "response_seconds": 1200,
        "issue_title": f"Request {n}",
        "issue_url": f"https://github.com/{repo}/issues/{n}",
        "issue_author": "kim",
    }
    fields.update(kw)
    if "issue_url" not in kw:
        fields["issue_url"] = f"https://github.com/{repo}/issues/{fields['issue_number']}"
    return Clock(**fields)  # type: ignore[arg-type]
