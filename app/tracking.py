"""Clock operations with their effects: start, transition, and the alerts each one owes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from app import effects
from app.domain import Priority, RequestType
from app.effects import IssueRef
from app.issue import Issue
from app.notify.messages import AlertContent, AlertKind
from app.sla.clock import ClockEvent, ClockKind, ClockState, Effect, step
from app.sla.pause import Pauses
from app.sla.policy import Policy
from app.store import clocks, outbox
from app.store.clocks import Clock
from app.triage import standing

# The alert a breach of each kind of clock sends.
BREACH_ALERT = {
    ClockKind.RESPONSE: AlertKind.BREACH,
    ClockKind.NEXT_RESPONSE: AlertKind.NEXT_RESPONSE_BREACH,
    ClockKind.UPDATE: AlertKind.UPDATE_OVERDUE,
    ClockKind.RESOLUTION: AlertKind.RESOLUTION_BREACH,
    ClockKind.POSTMORTEM: AlertKind.POSTMORTEM_DUE,
}
# The clocks whose start the customer is told of under the intake comment.
TOLD = (ClockKind.NEXT_RESPONSE, ClockKind.UPDATE)
# The messages an issue's later alerts reply to, in their thread.
THREAD_STARTERS = [str(AlertKind.PAGE), str(AlertKind.ANNOUNCE), str(AlertKind.BREACH)]
# The clocks that follow an issue's priority: a relabel replaces them, an unlabel drops them.
FOLLOWERS = (ClockKind.NEXT_RESPONSE, ClockKind.UPDATE, ClockKind.RESOLUTION)


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
    started_by: str | None = None,
    first: bool = False,
) -> int | None:
    """Start a response clock; pages or announces as the policy says. None when not enforced
    or, with `first`, when the issue already had a response clock (a redelivered opening),
    or when nothing follows from the new clock (no follower, no alert): it is then stored
    with its window's others (`clocks.gathered`), still only if the issue never had one.

    `announce=False` (a clock rebuilt after the fact, already answered or overdue) starts it
    quietly: the sweep still alerts a breach, but nobody is paged for old news. Without a
    `request_type`, the type label counts, else what the issue's last clock recorded.
    """
    if request_type is None:
        request_type = request_type_of(
            issue, policy, clocks.history(conn, issue.repo, issue.number)
        )
    if not enforced(policy, started_at):
        return None
    rules = policy.priorities[priority]
    pages = rules.page and bool(policy.slack.page_channel)
    announces = rules.announce and bool(policy.slack.channel)
    paging = announce and pages
    values = dict(
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
        started_by=started_by,
        # Escalated then unless acknowledged or answered (the sweep reads it by index).
        escalate_at=started_at + policy.oncall.escalate_after.wall_clock if paging else None,
    )
    alerts = announce and (pages or announces)
    if first and not alerts and not policy.tracks(ClockKind.RESOLUTION, priority):
        clocks.open_first(conn, **values)  # a new routine request: nothing needs it back
        return None
    clock = (clocks.begin_first if first else clocks.begin)(conn, **values)
    if clock is None:
        return None
    clock_id = clock.id
    follow(conn, clock, ClockKind.RESOLUTION, policy=policy, at=started_at, by=started_by)
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
            later=True,  # with the window's intake effects, in one statement
        )
        oncall.trigger(conn, clock, policy, now)
    if rules.announce and (channel := policy.slack.channel):
        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.ANNOUNCE, now),
            channel=channel,
            clock_id=clock_id,
            now=now,
            later=True,
        )
    return clock_id


def enforced(policy: Policy, started_at: datetime) -> bool:
    """A request opened at `started_at` gets clocks (not before the policy's enforce_from)."""
    return policy.enforce_from is None or (
        started_at.astimezone(policy.tz).date() >= policy.enforce_from
    )


def follow(
    conn: Connection, lead: Clock, kind: ClockKind, *, policy: Policy, at: datetime,
    by: str | None, now: datetime | None = None,
) -> int | None:  # fmt: skip
    """Start a `kind` clock at `at` for the issue of the response clock `lead` (same priority
    and type), when the policy sets that target and none of the kind is live."""
    priority = Priority(lead.priority)
    if not policy.tracks(kind, priority):
        return None
    if clocks.live(conn, lead.repo, lead.issue_number, kind) is not None:
        return None
    started = clocks.begin(
        conn, installation_id=lead.installation_id, repo=lead.repo,
        issue_number=lead.issue_number, kind=str(kind), priority=lead.priority,
        request_type=lead.request_type, started_at=at,
        due_at=policy.deadline(kind, priority, at), warn_at=policy.warning(kind, priority, at),
        issue_title=lead.issue_title, issue_url=lead.issue_url, issue_author=lead.issue_author,
        started_by=by,
    )  # fmt: skip
    if kind in TOLD:
        tell_customer(conn, started, policy, now or at)
    return started.id


def renew_updates(
    conn: Connection, lead: Clock, *, policy: Policy, at: datetime, now: datetime, by: str
) -> None:
    """A responder spoke on an incident: the update interval running is met, the next one
    runs from `at` (only while the issue has updates owed, i.e. its priority sets them)."""
    running = clocks.live(conn, lead.repo, lead.issue_number, str(ClockKind.UPDATE))
    if running is not None:
        if at < running.started_at:
            return  # an older comment delivered late: the newer interval stands
        apply(conn, running, ClockEvent.RESPOND, policy=policy, at=at, now=now, responder=by)
    follow(conn, lead, ClockKind.UPDATE, policy=policy, at=at, by=f"comment by {by}", now=now)


def tell_customer(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    """Show the customer, under the intake comment, where their request stands now."""
    ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
    section = standing(clocks.of_issue(conn, clock.repo, clock.issue_number), policy)
    key = f"standing:{clock.repo}#{clock.issue_number}:{clock.id}:{clock.state}:{now.isoformat()}"
    effects.standing(conn, ref, key=key, section=section, now=now)


def end_followers(
    conn: Connection, repo: str, number: int, event: ClockEvent, *, policy: Policy,
    at: datetime, now: datetime, closed_by: str | None = None, by: str | None = None,
) -> bool:  # fmt: skip
    """End the next-response, update and resolution clocks with their priority or issue: a
    relabel replaces them, an unlabel drops them, a close stops them, except that a close
    by a person (`closed_by`) is what the resolution clock waits for: it meets it."""
    ended = False
    for kind in FOLLOWERS:
        if (follower := clocks.live(conn, repo, number, str(kind))) is None:
            continue
        resolved = event is ClockEvent.CLOSE and kind is ClockKind.RESOLUTION and closed_by
        ended |= apply(
            conn, follower, ClockEvent.RESPOND if resolved else event, policy=policy,
            at=max(at, follower.started_at), now=now, responder=closed_by if resolved else None,
            by=f"closed by {closed_by}" if resolved else by,
        )  # fmt: skip
    return ended


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
    by: str | None = None,
) -> bool:
    """Apply `event` to `clock` by the transition table; False when it changed nothing.

    The update is conditional on the state read, so two replicas deciding the same
    transition produce one winner and one set of effects. `by` says, for people, what
    ended the clock (`sla-bot status`).
    """
    transition = step(ClockState(clock.state), event)
    if transition is None:
        return False
    if event is ClockEvent.PAUSE and not clock.kind_enum.pausable:
        return False  # the first response (and an incident's updates) are owed regardless
    values = _values(clock, transition.target, policy=policy, at=at, now=now)
    if transition.target is ClockState.MET:
        values.update(responder=responder, ended_by=by or f"comment by {responder or '?'}")
    elif transition.target not in (ClockState.BREACHED, ClockState.RUNNING, ClockState.PAUSED):
        values.update(ended_by=by or str(event))
    if not clocks.transition(conn, clock.id, [clock.state], str(transition.target), **values):
        return False
    for effect in transition.effects:
        _effect(conn, clock, effect, policy=policy, at=at, now=now, responder=responder)
    if transition.target is ClockState.MET and clock.kind == clocks.RESPONSE:
        renew_updates(conn, clock, policy=policy, at=at, now=now, by=responder or "on-call")
    if _tells(clock, event, transition.target):
        moved = clocks.get(conn, clock.id)
        assert moved is not None
        tell_customer(conn, moved, policy, now)
    return True


def _tells(clock: Clock, event: ClockEvent, target: ClockState) -> bool:
    """Whether the customer's view of the request changes (a breach is the team's business;
    a met or lapsed update interval is followed at once by the next, which tells)."""
    kind = clock.kind_enum
    if kind not in FOLLOWERS or target is ClockState.BREACHED:
        return False
    return not (kind is ClockKind.UPDATE and event in (ClockEvent.RESPOND, ClockEvent.LAPSE))


def _values(
    clock: Clock, target: ClockState, *, policy: Policy, at: datetime, now: datetime
) -> dict[str, object]:
    """The columns a transition to `target` sets: times, and paused time settled."""
    kind, priority = clock.kind_enum, Priority(clock.priority)
    measure = policy.measure(kind, priority)
    pauses = Pauses(timedelta(seconds=clock.paused_seconds), clock.paused_at, clock.resumed_at)
    if target is ClockState.PAUSED:
        return {"paused_at": pauses.pause(at).since}
    if target is ClockState.BREACHED:
        return {"breached_at": now}
    settled = pauses.resume(at, measure)
    values: dict[str, object] = {
        "paused_at": None, "paused_seconds": int(settled.paused.total_seconds()),
        "resumed_at": settled.until,
    }  # fmt: skip
    if target is ClockState.RUNNING:  # resumed: the due time moves on by the pause
        span = settled.paused - pauses.paused
        values["due_at"] = policy.extend(kind, priority, clock.due_at, span)
        if clock.warn_at is not None and clock.warned_at is None:
            values["warn_at"] = policy.extend(kind, priority, clock.warn_at, span)
        return values
    values.update(ended_at=at, escalate_at=None)  # an ended page is escalated no more
    if target is ClockState.MET:
        took = (
            at - clock.started_at  # post-mortems run on the wall clock
            if kind is ClockKind.POSTMORTEM
            else pauses.counted(clock.started_at, at, measure)
        )
        values.update(met_at=at, response_seconds=int(took.total_seconds()))
    return values


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
        if clock.kind != clocks.POSTMORTEM:  # a late post-mortem is Slack's business only
            ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
            effects.add_labels(
                conn,
                ref,
                key=f"label:breached:clock:{clock.id}",
                labels=[policy.breached.label],
                now=now,
            )
    elif effect is Effect.ALERT_BREACH and channel:
        effects.alert(
            conn,
            content=content(clock, policy, BREACH_ALERT[clock.kind_enum], now),
            channel=channel,
            clock_id=clock.id,
            now=now,
            parent=issue_thread(conn, clock, channel),
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


def issue_thread(conn: Connection, clock: Clock, channel: str) -> str | None:
    """The key of the message whose thread holds the issue's alerts (its page, announcement
    or first breach), for every clock but the first response's own (it starts the thread)."""
    if clock.kind in (clocks.RESPONSE, clocks.POSTMORTEM):
        return None
    return outbox.first_alert(conn, clock.repo, clock.issue_number, channel, THREAD_STARTERS)


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
        clock=clock.kind_enum,
    )
