"""Clock operations with their effects: start, transition, and the alerts each one owes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from app import effects
from app.domain import Priority, RequestType
from app.effects import IssueRef
from app.issue import Issue
from app.notify.messages import AlertContent, AlertKind
from app.sla.clock import ClockEvent, ClockState, Effect, step
from app.sla.policy import Policy
from app.store import clocks
from app.store.clocks import Clock


def start_clock(
    conn: Connection,
    *,
    policy: Policy,
    issue: Issue,
    installation_id: int | None,
    priority: Priority,
    started_at: datetime,
    now: datetime,
    request_type: RequestType | None = None,
    announce: bool = True,
) -> int | None:
    """Start a response clock; pages or announces as the policy says. None when not enforced.

    `announce=False` (a clock rebuilt after the fact, already answered or overdue) starts it
    quietly: the sweep still alerts a breach, but nobody is paged for old news. Without a
    `request_type`, the type label counts, else what the issue's last clock recorded.
    """
    if request_type is None:
        request_type = request_type_of(
            issue, policy, clocks.history(conn, issue.repo, issue.number)
        )
    if policy.enforce_from is not None and started_at.astimezone(policy.tz).date() < (
        policy.enforce_from
    ):
        return None
    clock_id = clocks.start(
        conn,
        installation_id=installation_id,
        repo=issue.repo,
        issue_number=issue.number,
        kind=clocks.RESPONSE,
        priority=str(priority),
        request_type=str(request_type),
        started_at=started_at,
        due_at=policy.due_at(priority, started_at),
        warn_at=policy.warn_time(priority, started_at),
        issue_title=issue.title,
        issue_url=issue.url,
        issue_author=issue.author,
    )
    clock = clocks.get(conn, clock_id)
    assert clock is not None
    rules = policy.priorities[priority]
    if not announce:
        return clock_id
    if rules.page and (channel := policy.slack.page_channel):  # null: paging is off
        from app import oncall  # the on-call loop builds on this module

        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.PAGE, now),
            channel=channel,
            clock_id=clock_id,
            now=now,
            actions=oncall.buttons(clock_id) if policy.oncall.buttons else None,
        )
        oncall.trigger(conn, clock, policy, now)
    if rules.announce and (channel := policy.slack.channel):
        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.ANNOUNCE, now),
            channel=channel,
            clock_id=clock_id,
            now=now,
        )
    return clock_id


def request_type_of(issue: Issue, policy: Policy, past: list[Clock]) -> RequestType:
    """The type label, else what the issue's last clock recorded, else `other`."""
    labeled = issue.request_type(policy)
    if labeled is not None:
        return labeled
    return RequestType(past[-1].request_type) if past else RequestType.OTHER


def apply(
    conn: Connection,
    clock: Clock,
    event: ClockEvent,
    *,
    policy: Policy,
    at: datetime,
    now: datetime,
    responder: str | None = None,
) -> bool:
    """Apply `event` to `clock` by the transition table; False when it changed nothing.

    The update is conditional on the state read, so two replicas deciding the same
    transition produce one winner and one set of effects.
    """
    transition = step(ClockState(clock.state), event)
    if transition is None:
        return False
    values: dict[str, object] = {}
    if transition.target is ClockState.MET:
        took = (
            at - clock.started_at  # post-mortems run on the wall clock
            if clock.kind == clocks.POSTMORTEM
            else policy.elapsed(Priority(clock.priority), clock.started_at, at)
        )
        values.update(
            met_at=at, responder=responder, ended_at=at, response_seconds=int(took.total_seconds())
        )
    elif transition.target is ClockState.BREACHED:
        values.update(breached_at=now)
    else:
        values.update(ended_at=at)
    if not clocks.transition(conn, clock.id, [clock.state], str(transition.target), **values):
        return False
    for effect in transition.effects:
        _effect(conn, clock, effect, policy=policy, at=at, now=now, responder=responder)
    return True


def _effect(
    conn: Connection,
    clock: Clock,
    effect: Effect,
    *,
    policy: Policy,
    at: datetime,
    now: datetime,
    responder: str | None,
) -> None:
    channel = alert_channel(policy, clock)
    if effect is Effect.LABEL_BREACHED:
        if clock.kind == clocks.RESPONSE:  # a late post-mortem is Slack's business only
            ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
            effects.add_labels(
                conn,
                ref,
                key=f"label:breached:clock:{clock.id}",
                labels=[policy.breached.label],
                now=now,
            )
    elif effect is Effect.ALERT_BREACH and channel:
        kind = AlertKind.POSTMORTEM_DUE if clock.kind == clocks.POSTMORTEM else AlertKind.BREACH
        effects.alert(
            conn,
            content=content(clock, policy, kind, now),
            channel=channel,
            clock_id=clock.id,
            now=now,
        )
    elif effect is Effect.REPLY_IN_THREAD and channel and clock.kind == clocks.RESPONSE:
        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.LATE_RESPONSE, at, responder),
            channel=channel,
            clock_id=clock.id,
            now=now,
            thread_of=AlertKind.BREACH,
        )


def alert_channel(policy: Policy, clock: Clock) -> str | None:
    """Production-down (and its post-mortem) goes to the page channel, the rest to support."""
    if policy.priorities[Priority(clock.priority)].page:
        return policy.slack.page_channel or policy.slack.channel
    return policy.slack.channel


def content(
    clock: Clock, policy: Policy, kind: AlertKind, now: datetime, responder: str | None = None
) -> AlertContent:
    return AlertContent(
        kind=kind,
        repo=clock.repo,
        issue_number=clock.issue_number,
        issue_url=clock.issue_url,
        title=clock.issue_title,
        opened_by=clock.issue_author,
        priority=Priority(clock.priority),
        request_type=RequestType(clock.request_type),
        started_at=clock.started_at,
        due_at=clock.due_at,
        tz=policy.tz,
        now=now,
        responder=responder,
    )
