"""What the app decides to do on GitHub and Slack, written to the outbox with its decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.notify.messages import AlertContent, AlertKind, render
from app.store import outbox

ADD_LABELS, COMMENT, ENSURE_LABELS, RECONCILE, CLOSE_ISSUE = (
    "add-labels",
    "comment",
    "ensure-labels",
    "reconcile",
    "close-issue",
)
UPDATE = "update"  # a Slack message edited in place (chat.update)
REMOVE_LABEL = "remove-label"
STANDING = "standing"  # the intake comment edited to show where the request stands


@dataclass(frozen=True)
class IssueRef:
    """Where a GitHub effect lands."""

    installation_id: int | None
    repo: str
    number: int | None = None

    def __str__(self) -> str:
        return self.repo if self.number is None else f"{self.repo}#{self.number}"


def intake_comment_key(repo: str, number: int) -> str:
    """The intake comment's effect key (its standing edits find the posted comment by it)."""
    return f"intake:comment:{repo}#{number}"


def marker(name: str) -> str:
    """A hidden tag in the app's comments: a retried post finds it and does not post twice."""
    return f"<!-- sla-bot:{name} -->"


def _github(
    conn: Connection,
    ref: IssueRef,
    *,
    key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    urgent: bool = False,
    later: bool = False,
) -> bool:
    # A call's issue not opened yet has a negative number: its writes wait for the issue.
    held = ref.number is not None and ref.number < 0
    return outbox.enqueue(
        conn,
        key=key,
        target=outbox.GITHUB,
        kind=kind,
        payload=payload,
        now=now,
        installation_id=ref.installation_id,
        repo=ref.repo,
        issue_number=ref.number,
        urgent=urgent,
        later=later and not held,
        held=held,
    )


def add_labels(
    conn: Connection,
    ref: IssueRef,
    *,
    key: str,
    labels: list[str],
    now: datetime,
    urgent: bool = False,
    later: bool = False,
) -> bool:
    return _github(
        conn,
        ref,
        key=key,
        kind=ADD_LABELS,
        payload={"labels": labels},
        now=now,
        urgent=urgent,
        later=later,
    )


def comment(
    conn: Connection,
    ref: IssueRef,
    *,
    key: str,
    body: str,
    now: datetime,
    urgent: bool = False,
    later: bool = False,
) -> bool:
    tag = marker(key)
    payload = {"body": f"{tag}\n{body}", "marker": tag}
    return _github(
        conn, ref, key=key, kind=COMMENT, payload=payload, now=now, urgent=urgent, later=later
    )


def ensure_labels(
    conn: Connection,
    ref: IssueRef,
    *,
    key: str,
    labels: list[tuple[str, str, str]],
    now: datetime,
) -> bool:
    payload = {"labels": [list(spec) for spec in labels]}
    return _github(conn, ref, key=key, kind=ENSURE_LABELS, payload=payload, now=now)


def remove_label(conn: Connection, ref: IssueRef, *, key: str, label: str, now: datetime) -> bool:
    """Take a label off the issue (the pause label, once the customer answered)."""
    return _github(conn, ref, key=key, kind=REMOVE_LABEL, payload={"label": label}, now=now)


def standing(conn: Connection, ref: IssueRef, *, key: str, section: str, now: datetime) -> bool:
    """Edit the intake comment: its text as posted, then `section` (where things stand). The
    newest edit decided for an issue wins, whatever order the edits are sent in."""
    return _github(conn, ref, key=key, kind=STANDING, payload={"section": section}, now=now)


def close_issue(conn: Connection, ref: IssueRef, *, key: str, now: datetime) -> bool:
    """Close the issue as completed (the on-call engineer resolved it from the page)."""
    return _github(conn, ref, key=key, kind=CLOSE_ISSUE, payload={"reason": "completed"}, now=now)


def pagerduty(
    conn: Connection, *, key: str, event: dict[str, Any], clock_id: int, now: datetime
) -> bool:
    """One PagerDuty event (trigger, acknowledge, resolve), sent once per key."""
    return outbox.enqueue(
        conn,
        key=key,
        target=outbox.PAGERDUTY,
        kind=str(event["event_action"]),
        payload=event,
        now=now,
        clock_id=clock_id,
        urgent=True,
    )


def update_message(
    conn: Connection,
    *,
    key: str,
    of: str,
    text: str,
    blocks: list[dict[str, Any]],
    clock_id: int,
    now: datetime,
) -> bool:
    """Edit the Slack message sent by the effect `of` (the page, once acknowledged)."""
    payload = {"update_of": of, "text": text, "blocks": blocks}
    return outbox.enqueue(
        conn,
        key=key,
        target=outbox.SLACK,
        kind=UPDATE,
        payload=payload,
        now=now,
        clock_id=clock_id,
    )


def reconcile(conn: Connection, ref: IssueRef, *, key: str, now: datetime) -> bool:
    """Rebuild a repository's clocks from GitHub's record (after install, on demand)."""
    return _github(conn, ref, key=key, kind=RECONCILE, payload={}, now=now)


def alert(
    conn: Connection,
    *,
    content: AlertContent,
    channel: str,
    clock_id: int,
    now: datetime,
    thread_of: AlertKind | None = None,
    actions: dict[str, Any] | None = None,
    parent: str | None = None,
    later: bool = False,
    pages: bool = False,
) -> bool:
    """One Slack message per (clock, kind); `thread_of` posts it in the thread of this clock's
    alert of that kind, `parent` in the thread of the message with that effect key; `actions`
    adds a block of buttons (the page's Acknowledge and Resolve); `later` as in `enqueue`.
    `pages`: the clock's priority pages by its policy, which makes the alert urgent (the
    on-call loop's own messages are sent only for such a priority: always urgent)."""
    text, blocks = render(content)
    if actions is not None:
        blocks.append(actions)
    if thread_of is not None:
        parent = alert_key(clock_id, thread_of)
    return outbox.enqueue(
        conn,
        key=alert_key(clock_id, content.kind),
        target=outbox.SLACK,
        kind=str(content.kind),
        payload={"channel": channel, "text": text, "blocks": blocks, "thread_of": parent},
        now=now,
        clock_id=clock_id,
        repo=content.repo,
        issue_number=content.issue_number,
        urgent=pages or content.kind in ONCALL_KINDS,
        later=later,
    )


# The on-call loop's messages: only a priority that pages has them.
ONCALL_KINDS = frozenset({AlertKind.PAGE, AlertKind.RESOLVED})


def alert_key(clock_id: int, kind: AlertKind) -> str:
    return f"slack:{kind}:clock:{clock_id}"
