"""The on-call loop: page (Slack and PagerDuty), acknowledge, resolve, escalate.

Each step is a decision written to the outbox with its effects, under keys derived from the
clock: a second click, a retry or another replica changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app import effects, tracking
from app.domain import Priority
from app.effects import IssueRef
from app.notify import pagerduty
from app.notify.messages import AlertKind, escape, format_time, render
from app.sla.clock import ClockEvent, ClockState
from app.sla.policy import Policy
from app.store import clocks, outbox
from app.store.clocks import Clock
from app.triage import local_time

ACK_COMMENT = (
    "**{who}** (on call) is on it since {since}. We will keep you posted here and tell you as "
    "soon as it is resolved."
)
RESOLVED_COMMENT = (
    "This incident is resolved ({who}, {at}). Thank you for your patience; a post-mortem "
    "follows within a few days."
)
ESCALATION = (
    ":rotating_light: *Escalation*: nobody has acknowledged the page for <{url}|{ref}> "
    "({title}) in {minutes} minutes. {who} please take it."
)


def ack_key(clock_id: int) -> str:
    return f"oncall:ack:{clock_id}"


def acknowledged(conn: Connection, clock_id: int) -> bool:
    return outbox.by_key(conn, ack_key(clock_id)) is not None


def trigger(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    """The PagerDuty incident for a paging clock, when the deployment uses PagerDuty."""
    if not policy.oncall.pagerduty:
        return
    event = pagerduty.trigger(
        clock.id,
        summary=f"Production down: {clock.repo}#{clock.issue_number} {clock.issue_title}",
        source=clock.repo,
        url=clock.issue_url,
        details={"opened_by": clock.issue_author, "due": clock.due_at.isoformat(),
                 "priority": clock.priority, "request_type": clock.request_type},
    )  # fmt: skip
    effects.pagerduty(conn, key=f"pagerduty:trigger:{clock.id}", event=event, clock_id=clock.id,
                      now=now)  # fmt: skip


def end_incident(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    """The issue closed (or went away): the PagerDuty incident is resolved with it."""
    if policy.oncall.pagerduty:
        effects.pagerduty(
            conn, key=f"pagerduty:resolve:{clock.id}",
            event=pagerduty.follow_up(clock.id, "resolve"), clock_id=clock.id, now=now,
        )  # fmt: skip


def acknowledge(conn: Connection, clock: Clock, policy: Policy, *, who: str, at: datetime) -> bool:
    """The on-call engineer took it: the customer is told who and since when, the clock is
    met at this moment, the incident acknowledged and the page shows it. False when it
    already was."""
    ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
    body = ACK_COMMENT.format(who=who, since=local_time(at, policy))
    if not effects.comment(conn, ref, key=ack_key(clock.id), body=body, now=at, urgent=True):
        return False
    _respond(conn, clock, policy, who, at)
    if policy.oncall.pagerduty:
        effects.pagerduty(
            conn, key=f"pagerduty:acknowledge:{clock.id}",
            event=pagerduty.follow_up(clock.id, "acknowledge"), clock_id=clock.id, now=at,
        )  # fmt: skip
    _show(conn, clock, policy, f"Acknowledged by {who}", at, resolved=False)
    return True


def resolve(conn: Connection, clock: Clock, policy: Policy, *, who: str, at: datetime) -> bool:
    """Resolved from the page: the customer is told, the issue closes as completed (its
    `closed` delivery starts the post-mortem), the incident is resolved. False when it
    already was."""
    ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
    body = RESOLVED_COMMENT.format(who=who, at=local_time(at, policy))
    key = f"oncall:resolve:{clock.id}"
    if not effects.comment(conn, ref, key=key, body=body, now=at, urgent=True):
        return False
    _respond(conn, clock, policy, who, at)
    effects.close_issue(conn, ref, key=f"oncall:close:{clock.id}", now=at)
    end_incident(conn, clock, policy, at)
    _show(conn, clock, policy, f"Resolved by {who}", at, resolved=True)
    return True


def _respond(conn: Connection, clock: Clock, policy: Policy, who: str, at: datetime) -> None:
    current = clocks.get(conn, clock.id)
    if current is not None and ClockState(current.state) in (ClockState.RUNNING,
                                                              ClockState.BREACHED):  # fmt: skip
        tracking.apply(conn, current, ClockEvent.RESPOND, policy=policy, at=at, now=at,
                       responder=who)  # fmt: skip


def _show(
    conn: Connection, clock: Clock, policy: Policy, status: str, at: datetime, *, resolved: bool
) -> None:
    """Edit the page in place: who acknowledged or resolved, when, and what is left to do."""
    text, blocks = render(tracking.content(clock, policy, AlertKind.PAGE, at))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f":white_check_mark: *{escape(status)}* at {format_time(at, policy.tz)}")}]})  # fmt: skip
    if not resolved:
        blocks.append(buttons(clock.id, acknowledge=False))
    effects.update_message(
        conn, key=f"slack:page-update:{'resolve' if resolved else 'ack'}:{clock.id}",
        of=effects.alert_key(clock.id, AlertKind.PAGE), text=f"{text} ({status})",
        blocks=blocks, clock_id=clock.id, now=at,
    )  # fmt: skip


def buttons(clock_id: int, *, acknowledge: bool = True) -> dict[str, Any]:
    """The page's actions block; each button's value is the clock id."""
    elements: list[dict[str, Any]] = []
    if acknowledge:
        elements.append({"type": "button", "action_id": "sla_acknowledge", "style": "primary",
                         "text": {"type": "plain_text", "text": "Acknowledge"},
                         "value": str(clock_id)})  # fmt: skip
    elements.append({"type": "button", "action_id": "sla_resolve", "style": "danger",
                     "text": {"type": "plain_text", "text": "Resolve"},
                     "value": str(clock_id)})  # fmt: skip
    return {"type": "actions", "block_id": f"sla-page-{clock_id}", "elements": elements}


def unacknowledged(conn: Connection, now: datetime) -> list[Clock]:
    """Live pages past their escalation time, never escalated nor acknowledged (by index)."""
    return clocks.to_escalate(conn, now)


def escalation_key(clock_id: int) -> str:
    return f"slack:escalate:clock:{clock_id}"


def escalate(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> bool:
    """Escalate a page nobody acknowledged in time, once; never an acknowledged one."""
    wait = policy.oncall.escalate_after.wall_clock
    channel = policy.slack.page_channel
    paging = {p for p, r in policy.priorities.items() if r.page}
    ended = clock.state not in clocks.LIVE_STATES
    if (
        ended
        or not channel
        or Priority(clock.priority) not in paging
        or acknowledged(conn, clock.id)
    ):
        clocks.escalated(conn, clock.id)  # nothing to escalate, now or later
        return False
    if now < clock.started_at + wait:
        return False  # the policy now waits longer than when the page went out
    clocks.escalated(conn, clock.id)
    mentions = " ".join(
        f"<!subteam^{who}>" if who.startswith("S") else f"<@{who}>"
        for who in policy.oncall.escalate_to
    )
    text = ESCALATION.format(
        url=clock.issue_url, ref=f"{clock.repo}#{clock.issue_number}",
        title=escape(clock.issue_title), minutes=int(wait.total_seconds() // 60),
        who=mentions or "Anyone on call,",
    )  # fmt: skip
    payload = {
        "channel": channel,
        "text": text,
        "blocks": None,
        "thread_of": None,
    }  # a new post, not a thread reply: it must be seen
    return outbox.enqueue(
        conn, key=escalation_key(clock.id), target=outbox.SLACK, kind="escalation",
        payload=payload, now=now, clock_id=clock.id, repo=clock.repo,
        issue_number=clock.issue_number, urgent=True,
    )  # fmt: skip
