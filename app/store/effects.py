"""What the app decides to do on GitHub, Slack and PagerDuty, written to the outbox with its
decision: every kind of effect, where it goes, and who sends it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Connection

from app.notify.messages import AlertContent, AlertKind, render
from app.sla import keys
from app.store import outbox
from app.store.outbox import GITHUB, PAGERDUTY, SLACK, Item


class EffectKind(StrEnum):
    """Every kind of effect; the value is what the outbox row stores (old rows keep sending).
    The app's own work (reconcile, redeliver) is no effect: it is a job (app/store/jobs.py)."""

    # GitHub
    ADD_LABELS = "add-labels"
    COMMENT = "comment"
    ENSURE_LABELS = "ensure-labels"
    REMOVE_LABEL = "remove-label"
    STANDING = "standing"  # the intake comment edited to show where the request stands
    CLOSE_ISSUE = "close-issue"
    CALL_ISSUE = "call-issue"  # the call's issue opened, then kept as the call is (app/phone)
    SLACK_ISSUE = "slack-create-issue"  # a request from Slack opened as an issue
    SLACK_COMMENT = "slack-comment"  # a reply in the request's thread as an issue comment
    SLACK_EDIT_COMMENT = "slack-edit-comment"  # a reply edited or deleted in Slack: its comment
    SLACK_EDIT_ISSUE = "slack-edit-issue"  # the request's message edited or deleted: the body
    # Slack: the alerts, one kind each (AlertKind's values)
    PAGE = "page"
    ANNOUNCE = "announce"
    WARNING = "warning"
    BREACH = "breach"
    LATE_RESPONSE = "late-response"
    RESOLVED = "resolved"
    POSTMORTEM_DUE = "postmortem-due"
    NEXT_RESPONSE_BREACH = "next-response-breach"
    UPDATE_OVERDUE = "update-overdue"
    RESOLUTION_BREACH = "resolution-breach"
    # Slack: the other messages
    UPDATE = "update"  # a message edited in place (chat.update)
    ESCALATION = "escalation"
    POLICY_BROKEN = "policy-broken"
    CALL_HUNG_UP = "call-hung-up"
    SLACK_OPEN = "slack-open"  # read the request's message, who wrote it and its link
    SLACK_REPLY = "slack-reply"  # a message in the request's thread
    SLACK_REACT = "slack-react"  # ✅ on the request's message
    # PagerDuty: the Events API v2 `event_action`s
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"

    @property
    def target(self) -> str:
        """Where this kind of effect goes (its outbox row's target)."""
        return KINDS[self].target


class Order(Enum):
    """What an effect must keep its order with while others are sent beside it."""

    ISSUE = "issue"  # the target's other effects on the same issue (a comment before the close)
    ALONE = "alone"  # everything: it goes alone, in claim order (a parent before its edit)


@dataclass(frozen=True)
class Spec:
    """Where an effect of a kind goes, how it is ordered, and whether GitHub's content
    creation limits count it (then the installation's write pace holds it back)."""

    target: str
    order: Order = Order.ALONE
    paced: bool = False


_GITHUB_WRITE = Spec(GITHUB, Order.ISSUE, paced=True)
_SLACK = Spec(SLACK, Order.ISSUE)  # a thread reply or an edit goes alone (its payload)
KINDS: Mapping[EffectKind, Spec] = {
    EffectKind.ADD_LABELS: _GITHUB_WRITE,
    EffectKind.COMMENT: _GITHUB_WRITE,
    EffectKind.CLOSE_ISSUE: _GITHUB_WRITE,
    EffectKind.ENSURE_LABELS: Spec(GITHUB, paced=True),
    EffectKind.REMOVE_LABEL: Spec(GITHUB),
    EffectKind.STANDING: Spec(GITHUB),
    EffectKind.CALL_ISSUE: Spec(GITHUB),
    EffectKind.SLACK_ISSUE: Spec(GITHUB),
    EffectKind.SLACK_COMMENT: Spec(GITHUB),
    EffectKind.SLACK_EDIT_COMMENT: Spec(GITHUB),
    EffectKind.SLACK_EDIT_ISSUE: Spec(GITHUB),
    **{EffectKind(alert.value): _SLACK for alert in AlertKind},
    EffectKind.UPDATE: Spec(SLACK),
    EffectKind.ESCALATION: _SLACK,
    EffectKind.POLICY_BROKEN: _SLACK,
    EffectKind.CALL_HUNG_UP: _SLACK,
    EffectKind.SLACK_OPEN: Spec(SLACK),
    EffectKind.SLACK_REPLY: Spec(SLACK),
    EffectKind.SLACK_REACT: Spec(SLACK),
    EffectKind.TRIGGER: Spec(PAGERDUTY),
    EffectKind.ACKNOWLEDGE: Spec(PAGERDUTY),
    EffectKind.RESOLVE: Spec(PAGERDUTY),
}
# What GitHub's secondary limits count as content creation, for the pace's look at the store.
PACED = tuple(sorted(str(kind) for kind, spec in KINDS.items() if spec.paced))


def write_weight(kind: str, payload: dict[str, Any], result: dict[str, Any] | None = None) -> int:
    """How many content-creating requests an effect makes (`outbox.Weigh`): one, or for a
    label set one per label it created (sent: its `result`) or may create (its labels)."""
    if kind != EffectKind.ENSURE_LABELS:
        return 1
    if result is not None:
        return max(1, len(result.get("created") or ()))
    return max(1, len(payload.get("labels") or ()))


Send = Callable[[Item], Awaitable[dict[str, Any]]]


class Senders:
    """The send function of each kind in this process, filled where the services are composed
    (the dispatcher's own, then app/slack_threads' and app/phone's)."""

    def __init__(self) -> None:
        self._sends: dict[EffectKind, Send] = {}

    def add(self, sends: Mapping[EffectKind, Send]) -> None:
        self._sends.update(sends)

    def __call__(self, kind: str) -> Send:
        """The send function of a stored kind; ValueError for a kind nobody sends (a row
        written by a newer version: it is kept as dead, to replay once that version runs)."""
        send = self._sends.get(EffectKind(kind)) if kind in _VALUES else None
        if send is None:
            raise ValueError(f"unknown effect kind {kind!r}")
        return send

    def missing(self) -> set[EffectKind]:
        return set(EffectKind) - set(self._sends)


_VALUES = frozenset(str(kind) for kind in EffectKind)


def spec(kind: str) -> Spec | None:
    """The facts of a stored kind (None: a kind this version does not know)."""
    return KINDS.get(EffectKind(kind)) if kind in _VALUES else None


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
    return keys.key("intake", "comment", keys.issue(repo, number))


def marker(name: str) -> str:
    """A hidden tag in the app's comments: a retried post finds it and does not post twice."""
    return f"<!-- sla-bot:{name} -->"


def _github(
    conn: Connection,
    ref: IssueRef,
    *,
    key: str,
    kind: EffectKind,
    payload: dict[str, Any],
    now: datetime,
    urgent: bool = False,
    later: bool = False,
) -> bool:
    # A call's issue not opened yet has a negative number: its writes wait for the issue.
    held = ref.number is not None and ref.number < 0
    return outbox.enqueue(
        conn,
        kind,
        key=key,
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
        kind=EffectKind.ADD_LABELS,
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
        conn,
        ref,
        key=key,
        kind=EffectKind.COMMENT,
        payload=payload,
        now=now,
        urgent=urgent,
        later=later,
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
    return _github(conn, ref, key=key, kind=EffectKind.ENSURE_LABELS, payload=payload, now=now)


def remove_label(conn: Connection, ref: IssueRef, *, key: str, label: str, now: datetime) -> bool:
    """Take a label off the issue (the pause label, once the customer answered)."""
    return _github(
        conn, ref, key=key, kind=EffectKind.REMOVE_LABEL, payload={"label": label}, now=now
    )


def standing(conn: Connection, ref: IssueRef, *, key: str, section: str, now: datetime) -> bool:
    """Edit the intake comment: its text as posted, then `section` (where things stand). The
    newest edit decided for an issue wins, whatever order the edits are sent in."""
    return _github(
        conn, ref, key=key, kind=EffectKind.STANDING, payload={"section": section}, now=now
    )


def close_issue(conn: Connection, ref: IssueRef, *, key: str, now: datetime) -> bool:
    """Close the issue as completed (the on-call engineer resolved it from the page)."""
    return _github(
        conn, ref, key=key, kind=EffectKind.CLOSE_ISSUE, payload={"reason": "completed"}, now=now
    )


def pagerduty(
    conn: Connection, *, key: str, event: dict[str, Any], clock_id: int, now: datetime
) -> bool:
    """One PagerDuty event (trigger, acknowledge, resolve), sent once per key."""
    return outbox.enqueue(
        conn,
        EffectKind(event["event_action"]),
        key=key,
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
        EffectKind.UPDATE,
        key=key,
        payload=payload,
        now=now,
        clock_id=clock_id,
    )


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
    adds a block of buttons (the page's Acknowledge and Resolve); `later` as in `outbox.enqueue`.
    `pages`: the clock's priority pages by its policy, which makes the alert urgent (the
    on-call loop's own messages are sent only for such a priority: always urgent)."""
    text, blocks = render(content)
    if actions is not None:
        blocks.append(actions)
    if thread_of is not None:
        parent = alert_key(clock_id, thread_of)
    return outbox.enqueue(
        conn,
        EffectKind(content.kind.value),
        key=alert_key(clock_id, content.kind),
        payload={"channel": channel, "text": text, "blocks": blocks, "thread_of": parent},
        now=now,
        clock_id=clock_id,
        repo=content.repo,
        issue_number=content.issue_number,
        urgent=content.urgent or pages or content.kind in ONCALL_KINDS,
        later=later,
    )


# The on-call loop's messages: only a priority that pages has them.
ONCALL_KINDS = frozenset({AlertKind.PAGE, AlertKind.RESOLVED})


def alert_key(clock_id: int, kind: AlertKind) -> str:
    return keys.key("slack", kind, "clock", clock_id)
