"""The on-call loop's messages: the page, PagerDuty, the customer's comments, the page's
edits and the escalation, written to the outbox for what the decision core owes
(`app.sla.rules` decides when). Keys derive from the episode's clock: a second click, a
retry or another replica changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.notify import pagerduty
from app.notify.messages import AlertKind, format_time, render, slack_name, slack_text
from app.sla import keys, rules
from app.sla.clock import Clock
from app.sla.events import ACKNOWLEDGED, ANSWERED, MOVED, RESOLVED, Owe, Owed
from app.sla.policy import Policy
from app.sla.triage import as_text, local_time
from app.store import effects, meta, outbox, tracking
from app.store.effects import EffectKind, IssueRef

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
POSTMORTEM_CHECKLIST = (
    "This incident is resolved. A post-mortem is due by **{due}**:\n\n"
    "- [ ] Timeline: first report, page, mitigation, resolution\n"
    "- [ ] Impact: who and how many end users, for how long\n"
    "- [ ] Root cause and contributing factors\n"
    "- [ ] What went well, what did not\n"
    "- [ ] Action items with owners and dates\n\n"
    'Link the post-mortem in a comment here that says "post-mortem" (or label `{done}`) to '
    "close this follow-up."
)
# What the page says once its episode moved on, and whether Resolve is still there.
PAGE_STATUS = {
    ACKNOWLEDGED: ("Acknowledged by {who}", True),
    ANSWERED: ("Answered on GitHub by {who}", True),
    RESOLVED: ("Resolved by {who}", False),
    MOVED: ("No longer {was} (now {who})", False),
}
OWED = frozenset(
    {
        Owed.PAGE,
        Owed.TRIGGER,
        Owed.PD_ACKNOWLEDGE,
        Owed.PD_RESOLVE,
        Owed.ACK_COMMENT,
        Owed.RESOLVED_COMMENT,
        Owed.CLOSE_ISSUE,
        Owed.PAGE_STATUS,
        Owed.RESOLVED_IN_THREAD,
        Owed.POSTMORTEM,
        Owed.ESCALATE,
    }
)


def owe(
    conn: Connection,
    clock: Clock,
    owed: Owe,
    policy: Policy,
    now: datetime,
    *,
    note: str | None = None,
) -> None:
    """Write what the core owes for the episode of `clock` to the outbox; `note` goes on the
    page and the incident (the policy could not be read)."""
    ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
    who = owed.who or "someone"
    match owed.what:
        case Owed.PAGE:
            _page(conn, clock, policy, now, note)
        case Owed.TRIGGER:
            _trigger(conn, clock, policy, now, note)
        case Owed.PD_ACKNOWLEDGE | Owed.PD_RESOLVE:
            action = "acknowledge" if owed.what is Owed.PD_ACKNOWLEDGE else "resolve"
            effects.pagerduty(
                conn,
                key=keys.key("pagerduty", action, clock.id),
                event=pagerduty.follow_up(incident_key(conn, clock), action),
                clock_id=clock.id,
                now=now,
            )
        case Owed.ACK_COMMENT:
            body = ACK_COMMENT.format(who=as_text(who), since=local_time(owed.at, policy))
            effects.comment(conn, ref, key=ack_key(clock.id), body=body, now=now, urgent=True)
        case Owed.RESOLVED_COMMENT:
            body = RESOLVED_COMMENT.format(who=as_text(who), at=local_time(owed.at, policy))
            effects.comment(
                conn,
                ref,
                key=keys.key("oncall", "resolve", clock.id),
                body=body,
                now=now,
                urgent=True,
            )
        case Owed.CLOSE_ISSUE:
            effects.close_issue(conn, ref, key=keys.key("oncall", "close", clock.id), now=now)
        case Owed.PAGE_STATUS:
            _show(conn, clock, policy, owed, now)
        case Owed.RESOLVED_IN_THREAD:
            _resolved_in_thread(conn, clock, policy, now)
        case Owed.POSTMORTEM:
            _postmortem(conn, clock, policy, now, ref)
        case Owed.ESCALATE:
            _escalate(conn, clock, policy, now)


def ack_key(clock_id: int) -> str:
    return keys.key("oncall", "ack", clock_id)


def _page(conn: Connection, clock: Clock, policy: Policy, now: datetime, note: str | None) -> None:
    channel = policy.slack.page_channel
    if not channel:
        return
    content = replace(tracking.content(clock, policy, AlertKind.PAGE, now), note=note)
    effects.alert(
        conn,
        content=content,
        channel=channel,
        clock_id=clock.id,
        now=now,
        actions=buttons(clock.id) if policy.oncall.buttons else None,
        later=True,  # with the window's intake effects, in one statement
    )


def trigger_key(clock_id: int) -> str:
    return keys.key("pagerduty", "trigger", clock_id)


def incident_key(conn: Connection, clock: Clock) -> str:
    """The episode's PagerDuty `dedup_key`: the one its trigger was sent with (an episode
    paged before this deployment had ids keeps its old key), else made from the episode."""
    triggered = outbox.by_key(conn, trigger_key(clock.id))
    if triggered is not None:
        return str(triggered.payload["dedup_key"])
    paged_at = clock.paged_at or clock.started_at
    return pagerduty.dedup_key(meta.deployment(conn), clock.repo, clock.issue_number, paged_at)


def _trigger(
    conn: Connection, clock: Clock, policy: Policy, now: datetime, note: str | None
) -> None:
    """The PagerDuty incident of an episode, summed up in the policy's name for its priority."""
    details = {
        "opened_by": clock.issue_author,
        "due": clock.due_at.isoformat(),
        "priority": clock.priority,
        "request_type": clock.request_type,
    }
    if note:
        details["policy"] = note
    event = pagerduty.trigger(
        incident_key(conn, clock),
        summary=f"{policy.name_of(clock.priority)}: {_ref(clock)} {clock.issue_title}",
        source=clock.repo,
        url=clock.issue_url,
        details=details,
    )
    effects.pagerduty(conn, key=trigger_key(clock.id), event=event, clock_id=clock.id, now=now)


def _ref(clock: Clock) -> str:
    """`owner/name#12`; a call's issue not opened yet has a negative number (app.phone.calls)."""
    if clock.issue_number < 0:
        return f"{clock.repo} (phone call)"
    return f"{clock.repo}#{clock.issue_number}"


def _show(conn: Connection, clock: Clock, policy: Policy, owed: Owe, now: datetime) -> None:
    """Edit the page in place: who acknowledged, answered or resolved it, when, and what is
    left to do."""
    template, open_ = PAGE_STATUS[owed.note]
    who = owed.who or "GitHub"
    if owed.note == MOVED:  # `who` is the priority it moved to (a key, or "no priority")
        who = policy.name_of(who) if who in policy.priorities else who
    # A Slack or PagerDuty name, or a login: it notifies and links nobody (slack_name).
    status = template.format(was=policy.name_of(clock.priority), who=slack_name(who))
    at = owed.at
    text, blocks = render(tracking.content(clock, policy, AlertKind.PAGE, at))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (f":white_check_mark: *{status}* at {format_time(at, policy.tz)}"),
                }
            ],
        }
    )
    if open_ and policy.oncall.buttons:
        blocks.append(buttons(clock.id, acknowledge=False))
    effects.update_message(
        conn,
        key=keys.key("slack", "page-update", owed.note, clock.id),
        of=effects.alert_key(clock.id, AlertKind.PAGE),
        text=f"{text} ({status})",
        blocks=blocks,
        clock_id=clock.id,
        now=now,
    )


def _resolved_in_thread(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    if channel := policy.slack.page_channel:
        effects.alert(
            conn,
            content=tracking.content(clock, policy, AlertKind.RESOLVED, now),
            channel=channel,
            clock_id=clock.id,
            now=now,
            thread_of=AlertKind.PAGE,
        )


def _postmortem(
    conn: Connection, follow_up: Clock, policy: Policy, now: datetime, ref: IssueRef
) -> None:
    """The post-mortem follow-up: the `postmortem: due` label and its checklist comment."""
    where = keys.key(keys.issue(follow_up.repo, follow_up.issue_number), follow_up.id)
    effects.add_labels(
        conn,
        ref,
        key=keys.key("postmortem", "label", where),
        labels=[policy.postmortem.due.label],
        now=now,
    )
    body = POSTMORTEM_CHECKLIST.format(
        due=local_time(follow_up.due_at, policy), done=policy.postmortem.done.label
    )
    effects.comment(conn, ref, key=keys.key("postmortem", "comment", where), body=body, now=now)


def buttons(clock_id: int, *, acknowledge: bool = True) -> dict[str, Any]:
    """The page's actions block; each button's value is the clock id."""
    elements: list[dict[str, Any]] = []
    if acknowledge:
        elements.append(
            {
                "type": "button",
                "action_id": "sla_acknowledge",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "value": str(clock_id),
            }
        )
    elements.append(
        {
            "type": "button",
            "action_id": "sla_resolve",
            "style": "danger",
            "text": {"type": "plain_text", "text": "Resolve"},
            "value": str(clock_id),
        }
    )
    return {"type": "actions", "block_id": f"sla-page-{clock_id}", "elements": elements}


def escalation_key(clock_id: int) -> str:
    return keys.key("slack", "escalate", "clock", clock_id)


def _escalate(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    """A new post in the page channel (not a thread reply: it must be seen), mentioning
    `oncall.escalate_to`, else `@here`."""
    wait = policy.oncall.escalate_after.wall_clock
    mentions = " ".join(
        f"<!subteam^{who}>" if who.startswith("S") else f"<@{who}>"
        for who in policy.oncall.escalate_to
    )
    text = ESCALATION.format(
        url=clock.issue_url,
        ref=f"{clock.repo}#{clock.issue_number}",
        title=slack_text(clock.issue_title),
        minutes=int(wait.total_seconds() // 60),
        who=mentions or "<!here>",
    )
    payload = {
        "channel": policy.slack.page_channel,
        "text": text,
        "blocks": None,
        "thread_of": None,
    }
    outbox.enqueue(
        conn,
        EffectKind.ESCALATION,
        key=escalation_key(clock.id),
        payload=payload,
        now=now,
        clock_id=clock.id,
        repo=clock.repo,
        issue_number=clock.issue_number,
        urgent=True,
    )


def acknowledge(conn: Connection, clock: Clock, policy: Policy, *, who: str, at: datetime) -> bool:
    """The on-call engineer took the page of `clock` (the Slack button, PagerDuty): False
    when that changed nothing (acknowledged already, or its episode is over). `who` empty:
    PagerDuty reporting an acknowledgement nobody made there (sla-bot's own echo)."""
    if not who:
        return False
    event = rules.Acknowledged(at, who, clock.id)
    return tracking.handle(conn, tracking.Subject.of_clock(clock), event, policy, at) > 0


def resolve(conn: Connection, clock: Clock, policy: Policy, *, who: str, at: datetime) -> bool:
    """Resolved from the page; `who` empty: PagerDuty resolved it by itself (auto-resolve, a
    merge, the echo of sla-bot's own resolve), which never closes the customer's issue."""
    event = rules.Resolved(at, who or "PagerDuty", clock.id, person=bool(who))
    return tracking.handle(conn, tracking.Subject.of_clock(clock), event, policy, at) > 0
