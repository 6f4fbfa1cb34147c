"""The core's changes applied: clock rows written and what they owe put in the outbox, in the
caller's transaction. Every decision is made in `app.sla.rules`; this module only stores it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from app.notify.messages import AlertContent, AlertKind
from app.sla import keys, rules
from app.sla.clock import Clock, ClockKind
from app.sla.domain import Priority, RequestType
from app.sla.events import Case, Mark, Move, Owe, Owed, Start, Step
from app.sla.issue import Issue
from app.sla.policy import Policy
from app.sla.triage import standing
from app.store import calls, clocks, effects, outbox
from app.store.effects import IssueRef

# The alert a breach of each kind of clock sends.
BREACH_ALERT = {
    ClockKind.RESPONSE: AlertKind.BREACH,
    ClockKind.NEXT_RESPONSE: AlertKind.NEXT_RESPONSE_BREACH,
    ClockKind.UPDATE: AlertKind.UPDATE_OVERDUE,
    ClockKind.RESOLUTION: AlertKind.RESOLUTION_BREACH,
    ClockKind.POSTMORTEM: AlertKind.POSTMORTEM_DUE,
}
# The messages an issue's later alerts reply to, in their thread.
THREAD_STARTERS = [str(AlertKind.PAGE), str(AlertKind.ANNOUNCE), str(AlertKind.BREACH)]
enforced = rules.enforced


class CallIssueOpening(Exception):
    """An app-opened issue's delivery arrived while a call's issue is being opened: retried."""


@dataclass(frozen=True)
class Subject:
    """The issue new clocks belong to."""

    installation_id: int | None
    repo: str
    number: int
    title: str = ""
    url: str = ""
    author: str = ""

    @classmethod
    def of(cls, issue: Issue, installation_id: int | None) -> Subject:
        return cls(installation_id, issue.repo, issue.number, issue.title, issue.url, issue.author)

    @classmethod
    def of_clock(cls, clock: Clock) -> Subject:
        return cls(
            clock.installation_id,
            clock.repo,
            clock.issue_number,
            clock.issue_title,
            clock.issue_url,
            clock.issue_author,
        )


def case_of(
    conn: Connection, repo: str, number: int, *, is_open: bool = True, pause_label_on: bool = False
) -> Case:
    """Everything the core needs to know of an issue: one read of its clocks."""
    found = tuple(clocks.of_issue(conn, repo, number))
    return Case(tuple(sorted(found, key=lambda c: c.id)), is_open, pause_label_on)


def handle(
    conn: Connection,
    subject: Subject,
    event: rules.Event,
    policy: Policy,
    now: datetime,
    *,
    case: Case | None = None,
    is_open: bool = True,
    pause_label_on: bool = False,
    note: str | None = None,
) -> int:
    """Decide `event` for the issue and store the decision; how many changes were stored.
    `note`: a line the page and the PagerDuty incident carry (the policy was not read)."""
    if (
        subject.number > 0
        and subject.author.endswith("[bot]")
        and calls.opening_in(conn, subject.repo, now)
    ):
        # GitHub may deliver the `opened` of an issue sla-bot is opening for a call before its
        # answer (the number) is recorded: decided now, it would page a second time. Retried
        # (10 s), it finds the call's clock on the issue and changes nothing.
        raise CallIssueOpening(f"an issue of {subject.repo} is being opened for a call")
    if case is None:
        case = case_of(
            conn, subject.repo, subject.number, is_open=is_open, pause_label_on=pause_label_on
        )
    return apply(conn, subject, rules.decide(case, event, policy, now), policy, now, note=note)


def apply(
    conn: Connection,
    subject: Subject,
    steps: list[Step],
    policy: Policy,
    now: datetime,
    *,
    note: str | None = None,
) -> int:
    """Store `steps` in order; a step the store refuses (another replica was first) owes
    nothing, and a refused first clock (a redelivered opening) ends the decision."""
    seen = _Seen(conn, subject)
    applied = 0
    told: Clock | None = None
    for step in steps:
        change = step.change
        if isinstance(change, Start):
            clock = _start(conn, subject, change, quiet=len(steps) == 1 and not step.owed)
            if clock is None:
                if change.only_if_new:
                    break
                continue
            seen.add(change.ref, clock)
        elif isinstance(change, Move):
            if not clocks.transition(
                conn, change.clock.id, [change.clock.state], str(change.state), **change.values
            ):
                continue
            seen.put(replace(change.clock, state=str(change.state), **change.values))  # type: ignore[arg-type]
        elif isinstance(change, Mark):
            if not clocks.mark(
                conn,
                change.clock,
                change.values,
                unless=change.unless,
                if_set=change.if_set,
                state=change.state,
            ):
                continue
            seen.forget(change.clock)
        applied += change is not None
        for owe in step.owed:
            if owe.what is Owed.TELL:
                told = seen.clock(owe.clock)
            else:
                _owe(conn, seen, owe, policy, now, note)
    if told is not None:
        tell_customer(conn, told, policy, now)
    return applied


class _Seen:
    """The clocks of this decision as stored so far, by id (new clocks by their ref too)."""

    def __init__(self, conn: Connection, subject: Subject) -> None:
        self._conn, self.subject = conn, subject
        self._refs: dict[int, int] = {}
        self._rows: dict[int, Clock] = {}

    def add(self, ref: int, clock: Clock) -> None:
        self._refs[ref] = clock.id
        self._rows[clock.id] = clock

    def put(self, clock: Clock) -> None:
        self._rows[clock.id] = clock

    def forget(self, clock_id: int) -> None:
        self._rows.pop(self._refs.get(clock_id, clock_id), None)

    def id(self, ref: int) -> int:
        return self._refs.get(ref, ref)

    def clock(self, ref: int) -> Clock | None:
        clock_id = self.id(ref)
        if clock_id not in self._rows and clock_id > 0:
            found = clocks.get(self._conn, clock_id)
            if found is not None:
                self._rows[clock_id] = found
        return self._rows.get(clock_id)


def _start(conn: Connection, subject: Subject, start: Start, *, quiet: bool) -> Clock | None:
    values = dict(
        installation_id=subject.installation_id,
        repo=subject.repo,
        issue_number=subject.number,
        kind=str(start.kind),
        priority=str(start.priority),
        request_type=start.request_type,
        started_at=start.started_at,
        due_at=start.due_at,
        warn_at=start.warn_at,
        issue_title=subject.title,
        issue_url=subject.url,
        issue_author=subject.author,
        started_by=start.started_by,
        escalate_at=start.escalate_at,
        paged_at=start.paged_at,
    )
    if start.only_if_new and quiet:
        clocks.open_if_new(conn, **values)  # a new routine request: nothing needs it back
        return None
    if start.only_if_new:
        return clocks.begin_if_new(conn, **values)
    return clocks.begin(conn, **values)


def _owe(
    conn: Connection, seen: _Seen, owe: Owe, policy: Policy, now: datetime, note: str | None
) -> None:
    from app.notify import oncall  # the on-call loop's messages build on this module

    if owe.what is Owed.UNPAUSE:
        subject = seen.subject
        ref = IssueRef(subject.installation_id, subject.repo, subject.number)
        key = keys.key("pause", "off", keys.issue(subject.repo, subject.number), owe.at.isoformat())
        effects.remove_label(conn, ref, key=key, label=policy.pause_label.label, now=now)
        return
    clock = seen.clock(owe.clock)
    if clock is None:
        return
    if owe.what in oncall.OWED:
        oncall.owe(conn, clock, owe, policy, now, note=note)
    else:
        _alert(conn, clock, owe, policy, now)


def _alert(conn: Connection, clock: Clock, owe: Owe, policy: Policy, now: datetime) -> None:
    channel = alert_channel(policy, clock)
    pages = policy.priorities[Priority(clock.priority)].page  # an urgent alert, if so
    if owe.what is Owed.LABEL_BREACHED:
        if clock.kind != clocks.POSTMORTEM:  # a late post-mortem is Slack's business only
            ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
            effects.add_labels(
                conn,
                ref,
                key=keys.key("label", "breached", "clock", clock.id),
                labels=[policy.breached.label],
                now=now,
            )
        return
    if not channel:
        return
    if owe.what is Owed.ANNOUNCE:
        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.ANNOUNCE, now),
            channel=channel,
            clock_id=clock.id,
            now=now,
            pages=pages,
            later=True,
        )
    elif owe.what is Owed.LATE_REPLY and clock.kind == clocks.RESPONSE:
        effects.alert(
            conn,
            content=content(clock, policy, AlertKind.LATE_RESPONSE, owe.at, owe.who),
            channel=channel,
            clock_id=clock.id,
            now=now,
            pages=pages,
            thread_of=AlertKind.BREACH,
        )
    elif owe.what in (Owed.BREACH, Owed.WARNING):
        kind = AlertKind.WARNING if owe.what is Owed.WARNING else BREACH_ALERT[clock.kind_enum]
        effects.alert(
            conn,
            content=content(clock, policy, kind, now),
            channel=channel,
            clock_id=clock.id,
            now=now,
            pages=pages,
            parent=issue_thread(conn, clock, channel),
        )


def tell_customer(conn: Connection, clock: Clock, policy: Policy, now: datetime) -> None:
    """Show the customer, under the intake comment, where their request stands now."""
    ref = IssueRef(clock.installation_id, clock.repo, clock.issue_number)
    section = standing(clocks.of_issue(conn, clock.repo, clock.issue_number), policy)
    key = keys.key(
        "standing",
        keys.issue(clock.repo, clock.issue_number),
        clock.id,
        clock.state,
        now.isoformat(),
    )
    effects.standing(conn, ref, key=key, section=section, now=now)


def request_type_of(issue: Issue, policy: Policy, past: list[Clock]) -> RequestType:
    """The type label, else what the issue's last clock recorded, else `other`."""
    labeled = issue.request_type(policy)
    if labeled is not None:
        return labeled
    return RequestType(past[-1].request_type) if past else policy.default_type


def issue_thread(conn: Connection, clock: Clock, channel: str) -> str | None:
    """The key of the message whose thread holds the issue's alerts (its page, announcement
    or first breach), for every clock but the first response's own (it starts the thread)."""
    if clock.kind in (clocks.RESPONSE, clocks.POSTMORTEM):
        return None
    return outbox.thread_starter(conn, clock.repo, clock.issue_number, channel, THREAD_STARTERS)


def alert_channel(policy: Policy, clock: Clock) -> str | None:
    """Production-down (and its post-mortem) goes to the page channel, the rest to support."""
    if policy.pages(Priority(clock.priority)):
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
        priority_name=policy.name_of(clock.priority),
        type_name=policy.type_name(clock.request_type),
        pages=policy.pages(Priority(clock.priority)),
        started_at=clock.started_at,
        due_at=clock.due_at,
        tz=policy.tz,
        now=now,
        responder=responder,
        clock=clock.kind_enum,
    )
