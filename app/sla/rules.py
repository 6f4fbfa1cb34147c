"""The decision core (pure): an issue's clocks, one event, the policy and `now` in; the
changes out (clocks to open, move or mark, and what each change owes). The store applies
them in one transaction (`app.tracking`); nothing here reads a clock, a database or the
network, so every rule is tested alone and the whole machine as a model.

The rules a support lead relies on, in one place (the README embeds this list):

1. A clock starts when a priority label goes on: at intake from the issue's creation, on a
   later relabel from the relabel. With several priority labels the highest counts; a label
   event that leaves the highest priority as it was changes nothing (our own included).
2. Relabel up to a paging priority starts a new incident episode and pages, answered or not.
   Relabel down from an answered or acknowledged episode ends it (its PagerDuty incident is
   resolved, the page says so) and owes no new first response; an unanswered issue gets the
   new priority's first-response clock from the relabel.
3. Reopen: a paging priority pages again (a new episode); an answered request owes a next
   response, not a first response; an unanswered one gets a new first-response clock.
4. Close, transfer or deletion ends every live clock of the issue and its episode (the
   incident is resolved); reconcile repairs a close it missed the same way.
5. A responder's comment is a response, also on an issue the responder opened; on a paged
   issue the first one acknowledges the incident and the page ("answered on GitHub").
6. An overdue update interval alerts once, however late the sweep sees it; the next interval
   runs from then.
7. Acknowledge or resolve of an episode that is over changes nothing. A resolve nobody made
   (PagerDuty auto-resolve, a merge, the echo of sla-bot's own) never closes the issue or
   tells the customer anything.
8. A post-mortem is met by the done label or a responder comment naming the post-mortem with
   a link; once written it stays met across reopen and close.
9. A pause that begins after the due time does not hide the breach; a clock that ends while
   paused is judged on the time it counted. A comment is judged by its time against the
   clocks as they stood then.
10. Escalation is timed from the page, once per episode, to `oncall.escalate_to` (else
    `@here`), never once acknowledged, answered or over.
11. Met means answered by the due time; breached means the due time passed before an answer
    or an end. The alerts, `status`, `report` and the metrics use this one definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain import Priority
from app.sla.clock import LIVE, Clock, ClockEvent, ClockKind, ClockState, step
from app.sla.pause import Pauses
from app.sla.policy import Policy

K, S, E = ClockKind, ClockState, ClockEvent
# The clocks that follow an issue's priority: a relabel replaces them, an unlabel drops them.
FOLLOWERS = (K.NEXT_RESPONSE, K.UPDATE, K.RESOLUTION)
# The clocks whose start or pause the customer is told of under the intake comment.
TOLD = (K.NEXT_RESPONSE, K.UPDATE)
# What a responder writes when linking the post-mortem (rule 8).
POSTMORTEM_LINK = re.compile(r"post-?mortem", re.IGNORECASE)
LINK = re.compile(r"https?://\S+")


def names_postmortem(body: str) -> bool:
    """A comment that links the post-mortem: it says so and has a link."""
    return POSTMORTEM_LINK.search(body) is not None and LINK.search(body) is not None


def rule_list() -> str:
    """The numbered rules of this module's docstring (the README embeds this text)."""
    text = __doc__ or ""
    return text[text.index("1. "):].strip()


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """Intake: the issue's first-response clock starts at its creation (if it never had one)."""

    at: datetime
    priority: Priority
    request_type: str
    by: str


@dataclass(frozen=True)
class Prioritized:
    """A label event: `priority` is the highest priority label on the issue now (None: none)."""

    at: datetime
    priority: Priority | None
    request_type: str | None  # the type label; None: what the issue's clocks recorded
    by: str = "label"
    intake: bool = False  # on within the intake window of a new issue: counts from creation
    created_at: datetime | None = None
    quiet: bool = False  # found late by reconcile: nobody is paged for old news


@dataclass(frozen=True)
class Found:
    """Reconcile found a first-response clock GitHub shows and the store lacks: started
    then, quietly unless `announce` (nobody is paged for old news)."""

    at: datetime
    priority: Priority
    request_type: str | None
    by: str | None = None
    announce: bool = False


@dataclass(frozen=True)
class Commented:
    at: datetime  # the comment's created_at, not when it reached us
    author: str
    responder: bool
    postmortem: bool = False  # names the post-mortem with a link


@dataclass(frozen=True)
class Paused:
    at: datetime
    on: bool  # the pause label put on (True) or taken off
    by: str


@dataclass(frozen=True)
class Closed:
    at: datetime
    reason: str = "completed"  # GitHub's state_reason
    closer: str | None = None  # a person; None for a transfer or deletion
    gone: bool = False  # transferred away, deleted, or no longer found: silent


@dataclass(frozen=True)
class Reopened:
    at: datetime
    priority: Priority | None
    request_type: str | None  # the type label; None: what the issue's clocks recorded


@dataclass(frozen=True)
class PostmortemDone:
    at: datetime


@dataclass(frozen=True)
class Acknowledged:
    at: datetime
    who: str
    page: int  # the episode's clock id


@dataclass(frozen=True)
class Resolved:
    at: datetime
    who: str
    page: int
    person: bool = True  # False: PagerDuty resolved it by itself (auto-resolve, merge, echo)


@dataclass(frozen=True)
class Due:
    """The sweep at `now` found `clock` due: past its due time (expire), its warning time
    (warn), or its escalation time (escalate)."""

    now: datetime
    clock: int
    what: str  # "expire" | "warn" | "escalate"


Event = (
    Opened | Found | Prioritized | Commented | Paused | Closed | Reopened | PostmortemDone
    | Acknowledged | Resolved | Due
)  # fmt: skip


# --- changes ----------------------------------------------------------------------------


class Owed(StrEnum):
    """What a change owes the outside world; the store writes each to the outbox once."""

    PAGE = "page"  # the Slack page with its buttons
    TRIGGER = "pagerduty-trigger"
    PD_ACKNOWLEDGE = "pagerduty-acknowledge"
    PD_RESOLVE = "pagerduty-resolve"
    ANNOUNCE = "announce"
    BREACH = "alert-breach"  # the alert of the clock's kind, in the issue's thread
    LABEL_BREACHED = "label-breached"
    WARNING = "warning"
    LATE_REPLY = "reply-in-thread"  # a late first response, in its breach alert's thread
    TELL = "tell"  # the intake comment shows the customer where things stand
    ACK_COMMENT = "ack-comment"  # the customer: who is on it
    RESOLVED_COMMENT = "resolved-comment"  # the customer: it is resolved
    CLOSE_ISSUE = "close-issue"
    PAGE_STATUS = "page-status"  # the page edited in place: who, what, and the buttons left
    RESOLVED_IN_THREAD = "resolved-in-thread"
    POSTMORTEM = "postmortem"  # the `postmortem: due` label and the checklist comment
    UNPAUSE = "unpause"  # the pause label taken off (the customer answered)
    ESCALATE = "escalate"


# What the page shows once its episode moves on (PAGE_STATUS's `note`).
ACKNOWLEDGED, ANSWERED, RESOLVED, MOVED = "ack", "answered", "resolve", "moved"
ALERTS = frozenset({Owed.PAGE, Owed.ANNOUNCE, Owed.BREACH, Owed.WARNING, Owed.ESCALATE})


@dataclass(frozen=True)
class Owe:
    what: Owed
    clock: int  # an id, or a new clock's ref (negative) in the same changes
    at: datetime
    who: str | None = None
    note: str = ""

    @property
    def key(self) -> str:
        """The same decision made twice (a retry, another replica) owes it once."""
        if self.what in (Owed.TELL, Owed.UNPAUSE):
            return f"{self.what}:{self.clock}:{self.at.isoformat()}"
        return f"{self.what}:{self.clock}:{self.note}"


@dataclass(frozen=True)
class Start:
    """A new clock; `ref` (negative) names it in the changes until the store gives its id."""

    ref: int
    kind: ClockKind
    priority: Priority
    request_type: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None
    started_by: str | None
    paged_at: datetime | None = None
    escalate_at: datetime | None = None
    only_first: bool = False  # stored only if the issue never had a clock of this kind


@dataclass(frozen=True)
class Move:
    """A transition of the table, stored only if the clock is still in `clock.state`."""

    clock: Clock
    state: ClockState
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Mark:
    """Columns set on a clock only if `unless` is still unset, or `if_set` still set, and the
    clock is still in `state` when given: two replicas marking it make one winner."""

    clock: int
    values: dict[str, object]
    unless: str | None = None
    if_set: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Step:
    """One change and what it owes: if the store refuses the change (another replica made
    it first), it owes nothing."""

    change: Start | Move | Mark | None
    owed: tuple[Owe, ...] = ()


@dataclass(frozen=True)
class Case:
    """What the core knows of one issue: every clock it had (oldest first) and its state."""

    clocks: tuple[Clock, ...] = ()
    is_open: bool = True
    pause_label_on: bool = False

    def live(self, kind: ClockKind) -> Clock | None:
        return next((c for c in self.clocks if c.kind == kind and c.live), None)

    def responses(self) -> list[Clock]:
        return [c for c in self.clocks if c.kind == K.RESPONSE]

    def priority(self) -> Priority | None:
        """The priority the issue is tracked under now: its last first-response clock's,
        unless every priority label was taken off since."""
        last = self.responses()[-1:]
        return None if not last or last[0].state == S.DROPPED else Priority(last[0].priority)

    def request_type(self) -> str:
        """What the issue's last clock recorded, else `other`."""
        return self.clocks[-1].request_type if self.clocks else "other"

    def answered(self) -> datetime | None:
        """When the team last answered (a first or next response met), if ever."""
        times = [c.met_at for c in self.clocks
                 if c.kind in (K.RESPONSE, K.NEXT_RESPONSE) and c.met_at is not None]  # fmt: skip
        return max(times, default=None)

    def episode(self) -> Clock | None:
        """The incident episode not over, if any."""
        return next((c for c in reversed(self.clocks) if c.episode_live), None)

    def find(self, clock_id: int) -> Clock | None:
        return next((c for c in self.clocks if c.id == clock_id), None)


# --- the decisions ----------------------------------------------------------------------


class _Plan:
    """Changes being decided; later steps see the clocks as earlier steps left them."""

    def __init__(self, case: Case, policy: Policy, now: datetime) -> None:
        self.case, self.policy, self.now = case, policy, now
        self.steps: list[Step] = []
        self._refs = 0

    def clock(self, clock_id: int) -> Clock | None:
        return self.case.find(clock_id)

    def _seen(self, clock: Clock) -> None:
        self.case = replace(self.case, clocks=tuple(
            clock if c.id == clock.id else c for c in self.case.clocks))  # fmt: skip

    def owe(self, what: Owed, clock: int, at: datetime, who: str | None = None,
            note: str = "") -> None:  # fmt: skip
        self.steps.append(Step(None, (Owe(what, clock, at, who, note),)))

    def move(self, clock: Clock, event: ClockEvent, at: datetime, *, who: str | None = None,
             by: str | None = None, owed: Iterable[Owed] = ()) -> Clock | None:  # fmt: skip
        """`event` on `clock` by the transition table; None when it changes nothing."""
        transition = step(ClockState(clock.state), event)
        if transition is None or (event is E.PAUSE and not clock.kind_enum.pausable):
            return None
        values = moved_values(clock, transition.target, self.policy, at, self.now)
        if transition.target is S.MET:
            values.update(responder=who, ended_by=by or f"comment by {who or '?'}")
        elif transition.target not in (S.BREACHED, S.RUNNING, S.PAUSED):
            values.update(ended_by=by or str(event))
        owes = [Owe(Owed(str(e)), clock.id, at, who) for e in transition.effects]
        owes += [Owe(o, clock.id, at, who) for o in owed]
        if tells(clock.kind_enum, event, transition.target):
            owes.append(Owe(Owed.TELL, clock.id, at))
        self.steps.append(Step(Move(clock, transition.target, values), tuple(owes)))
        after = replace(clock, state=str(transition.target), **values)  # type: ignore[arg-type]
        self._seen(after)
        return after

    def mark(self, clock: Clock, owed: Iterable[Owe] = (), *, unless: str | None = None,
             if_set: str | None = None, state: str | None = None,
             **values: object) -> Clock:  # fmt: skip
        self.steps.append(Step(Mark(clock.id, values, unless, if_set, state), tuple(owed)))
        after = replace(clock, **values)  # type: ignore[arg-type]
        self._seen(after)
        return after

    def start(self, kind: ClockKind, priority: Priority, request_type: str, at: datetime,
              by: str | None, *, page: bool = False, only_first: bool = False,
              owed: Iterable[Owed] = ()) -> int:  # fmt: skip
        self._refs -= 1
        policy = self.policy
        wait = policy.oncall.escalate_after.wall_clock
        started = Start(
            ref=self._refs, kind=kind, priority=priority, request_type=request_type,
            started_at=at, due_at=policy.deadline(kind, priority, at),
            warn_at=policy.warning(kind, priority, at), started_by=by,
            paged_at=self.now if page else None,
            escalate_at=self.now + wait if page else None, only_first=only_first,
        )  # fmt: skip
        owes = tuple(Owe(o, self._refs, at) for o in owed)
        self.steps.append(Step(started, owes))
        self._seen_new(started)
        return self._refs

    def _seen_new(self, started: Start) -> None:
        clock = Clock(
            id=started.ref, installation_id=None, repo="", issue_number=0,
            kind=str(started.kind), priority=str(started.priority),
            request_type=started.request_type, state=str(S.RUNNING),
            started_at=started.started_at, due_at=started.due_at, warn_at=started.warn_at,
            warned_at=None, breached_at=None, met_at=None, ended_at=None, responder=None,
            response_seconds=None, issue_title="", issue_url="", issue_author="",
            started_by=started.started_by, paged_at=started.paged_at,
            escalate_at=started.escalate_at,
        )  # fmt: skip
        self.case = replace(self.case, clocks=(*self.case.clocks, clock))


def decide(case: Case, event: Event, policy: Policy, now: datetime) -> list[Step]:
    """The changes `event` makes to the issue in `case`, as of `now`."""
    plan = _Plan(case, policy, now)
    match event:
        case Opened():
            _open_response(plan, event.priority, event.request_type, event.at,
                           f"opened by {event.by}", only_first=True)  # fmt: skip
        case Found():
            request_type = event.request_type or plan.case.request_type()
            _open_response(plan, event.priority, request_type, event.at, event.by,
                           announce=event.announce)  # fmt: skip
        case Prioritized():
            _prioritized(plan, event)
        case Commented():
            (_responded if event.responder else _customer)(plan, event)
        case Paused():
            _paused(plan, event)
        case Closed():
            _closed(plan, event)
        case Reopened():
            _reopened(plan, event)
        case PostmortemDone():
            if (follow_up := plan.case.live(K.POSTMORTEM)) is not None:
                plan.move(follow_up, E.RESPOND, max(event.at, follow_up.started_at),
                          by="label postmortem: done")  # fmt: skip
        case Acknowledged():
            _acknowledged(plan, event)
        case Resolved():
            _resolved(plan, event)
        case Due():
            _due(plan, event)
    return plan.steps


def tells(kind: ClockKind, event: ClockEvent, target: ClockState) -> bool:
    """Whether the customer's view of the request changes (a breach is the team's business;
    a met or lapsed update interval is followed at once by the next, which tells)."""
    if kind not in FOLLOWERS or target is S.BREACHED:
        return False
    return not (kind is K.UPDATE and event in (E.RESPOND, E.LAPSE))


def enforced(policy: Policy, started_at: datetime) -> bool:
    """A request opened at `started_at` gets clocks (not before the policy's enforce_from)."""
    return policy.enforce_from is None or (
        started_at.astimezone(policy.tz).date() >= policy.enforce_from
    )


def pages(policy: Policy, priority: Priority) -> bool:
    return policy.priorities[priority].page and bool(policy.slack.page_channel)


def _open_response(
    plan: _Plan, priority: Priority, request_type: str, at: datetime, by: str | None, *,
    announce: bool = True, only_first: bool = False,
) -> int | None:  # fmt: skip
    """A first-response clock: it pages or announces as the policy says (`announce=False`:
    rebuilt after the fact, quietly), with its resolution clock when the policy sets one."""
    policy = plan.policy
    if not enforced(policy, at):
        return None
    paging = announce and pages(policy, priority)
    owed = [Owed.PAGE] if paging else []
    if paging and policy.oncall.pagerduty:
        owed.append(Owed.TRIGGER)
    if announce and policy.priorities[priority].announce and policy.slack.channel:
        owed.append(Owed.ANNOUNCE)
    ref = plan.start(K.RESPONSE, priority, request_type, at, by, page=paging,
                     only_first=only_first, owed=owed)  # fmt: skip
    if policy.tracks(K.RESOLUTION, priority) and plan.case.live(K.RESOLUTION) is None:
        plan.start(K.RESOLUTION, priority, request_type, at, by)
    return ref


def _follow(plan: _Plan, kind: ClockKind, lead: Clock, at: datetime, by: str) -> None:
    """A `kind` clock after the first response, when the policy sets one and none is live."""
    priority = Priority(lead.priority)
    if not plan.policy.tracks(kind, priority) or plan.case.live(kind) is not None:
        return
    told = (Owed.TELL,) if kind in TOLD else ()
    plan.start(kind, priority, lead.request_type, at, by, owed=told)


def _end_followers(plan: _Plan, event: ClockEvent, at: datetime, by: str | None = None,
                   closer: str | None = None) -> None:  # fmt: skip
    """Next-response, update and resolution clocks end with their priority or the issue; a
    close by a person (`closer`) is what the resolution clock waits for: it is met."""
    for kind in FOLLOWERS:
        if (follower := plan.case.live(kind)) is None:
            continue
        at_ = max(at, follower.started_at)
        if event is E.CLOSE and kind is K.RESOLUTION and closer:
            plan.move(follower, E.RESPOND, at_, who=closer, by=f"closed by {closer}")
        else:
            plan.move(follower, event, at_, by=by)


def _end_episode(plan: _Plan, note: str, at: datetime, who: str | None = None) -> None:
    """The incident episode is over: its PagerDuty incident is resolved, the page says why."""
    episode = plan.case.episode()
    if episode is None:
        return
    owed = [Owe(Owed.PAGE_STATUS, episode.id, at, who, note)]
    if plan.policy.oncall.pagerduty:
        owed.append(Owe(Owed.PD_RESOLVE, episode.id, at))
    plan.mark(episode, owed, unless="page_ended_at", page_ended_at=at, escalate_at=None)


def _prioritized(plan: _Plan, event: Prioritized) -> None:
    case, policy = plan.case, plan.policy
    if not case.is_open or event.priority == case.priority():
        return  # rule 1: the highest priority is as it was (our own intake label included)
    live = case.live(K.RESPONSE)
    owed_answer = case.live(K.NEXT_RESPONSE) is not None
    change = E.UNLABEL if event.priority is None else E.RELABEL
    by = f"label {policy.label_for(event.priority)}" if event.priority else "unlabel"
    if live is not None:
        plan.move(live, change, event.at, by=by)
    _end_followers(plan, change, event.at, by=by)
    paging = event.priority is not None and pages(policy, event.priority) and not event.quiet
    if not paging:
        _end_episode(plan, MOVED, event.at, str(event.priority or "no priority"))
    if event.priority is None:
        return
    at = event.at
    if event.intake and not case.responses() and event.created_at is not None:
        at = event.created_at  # the form's label: the clock counts from creation
    request_type = event.request_type or case.request_type()
    if paging or case.answered() is None:
        _open_response(plan, event.priority, request_type, at, by, announce=not event.quiet)
    elif (answered := _last_met(plan)) is not None:
        # Answered already (rule 2): no new first response; the new priority's clocks
        # after it (a next response owed, updates, resolution) run from the relabel.
        # The request is tracked under its new priority from now: the answered clock
        # says so (reports count it there; a relabel back up pages again).
        relabeled = plan.mark(answered, priority=str(event.priority))
        if owed_answer:
            _follow(plan, K.NEXT_RESPONSE, relabeled, at, by)
        _follow(plan, K.RESOLUTION, relabeled, at, by)


def _last_met(plan: _Plan) -> Clock | None:
    met = [c for c in plan.case.responses() if c.state == S.MET]
    return met[-1] if met else None


def _responded(plan: _Plan, event: Commented) -> None:
    case = plan.case
    at, who = event.at, event.author
    live = case.live(K.RESPONSE)
    if live is not None and at >= live.started_at:
        _meets_first(plan, live, at, who)
    elif live is None and case.is_open and (lead := _last_met(plan)) is not None:
        _renew_updates(plan, lead, at, who)
    if (episode := plan.case.episode()) is not None and episode.acked_at is None \
            and at >= episode.started_at:  # fmt: skip
        _acknowledge(plan, episode, at, who, ANSWERED)
    waiting = plan.case.live(K.NEXT_RESPONSE)
    if waiting is not None and at >= waiting.started_at:
        plan.move(waiting, E.RESPOND, at, who=who)
    follow_up = plan.case.live(K.POSTMORTEM)
    if follow_up is not None and event.postmortem and at >= follow_up.started_at:
        plan.move(follow_up, E.RESPOND, at, who=who)


def _meets_first(plan: _Plan, clock: Clock, at: datetime, who: str, by: str | None = None) -> None:
    """The first response: met (a late one is posted in its breach alert's thread); an
    incident's updates are owed from it."""
    met = plan.move(clock, E.RESPOND, at, who=who, by=by)
    if met is not None and plan.case.is_open:
        _renew_updates(plan, met, at, who)


def _renew_updates(plan: _Plan, lead: Clock, at: datetime, who: str) -> None:
    """A responder spoke on an incident: the interval running is met, the next runs from
    `at` (an older comment delivered late changes nothing: the newer interval stands)."""
    running = plan.case.live(K.UPDATE)
    if running is not None:
        if at < running.started_at:
            return
        plan.move(running, E.RESPOND, at, who=who)
    _follow(plan, K.UPDATE, lead, at, f"comment by {who}")


def _customer(plan: _Plan, event: Commented) -> None:
    """The customer spoke: paused clocks run again (the pause label comes off); once the
    team has answered, and this comment came after that answer, a next response is owed."""
    case = plan.case
    if not case.is_open:
        return
    at, by = event.at, f"comment by {event.author}"
    for kind in (K.NEXT_RESPONSE, K.RESOLUTION):
        live = plan.case.live(kind)
        if live is not None and at >= (live.paused_at or live.started_at):
            plan.move(live, E.RESUME, at, by=by)
    if case.pause_label_on:
        plan.owe(Owed.UNPAUSE, 0, at, event.author)
    answered = case.answered()
    lead = _last_met(plan)
    if answered is not None and lead is not None and at >= answered:
        _follow(plan, K.NEXT_RESPONSE, lead, at, by)


def _paused(plan: _Plan, event: Paused) -> None:
    """Waiting on the customer stops next-response and resolution clocks; a clock already
    past its due time breaches instead (rule 9: a late pause hides nothing)."""
    change = E.PAUSE if event.on else E.RESUME
    by = f"{'label' if event.on else 'unlabel'} by {event.by}"
    for kind in (K.NEXT_RESPONSE, K.RESOLUTION):
        live = plan.case.live(kind)
        if live is None:
            continue
        if event.on and live.state == S.RUNNING and live.due_at <= event.at:
            plan.move(live, E.EXPIRE, live.due_at)
            continue
        plan.move(live, change, max(event.at, live.started_at), by=by)


def _closed(plan: _Plan, event: Closed) -> None:
    """Every live clock ends (rule 4); a close as one of `postmortem.after` of an incident
    owes a post-mortem, unless one was written already."""
    case, policy = plan.case, plan.policy
    incident = not event.gone and event.reason in policy.postmortem.after
    if (live := case.live(K.RESPONSE)) is not None:
        plan.move(live, E.CLOSE, max(event.at, live.started_at), by=_ended(event))
    _end_followers(plan, E.CLOSE, event.at, by=_ended(event), closer=event.closer)
    follow_up = plan.case.live(K.POSTMORTEM)
    if follow_up is not None and not incident:
        plan.move(follow_up, E.CLOSE, max(event.at, follow_up.started_at), by=_ended(event))
    _end_episode(plan, RESOLVED, event.at, event.closer)
    last = case.responses()[-1:]
    if not incident or not last or not policy.priorities[Priority(last[0].priority)].page:
        return
    page = last[0]
    if page.paged_at is not None and policy.slack.page_channel:
        plan.owe(Owed.RESOLVED_IN_THREAD, page.id, event.at, event.closer)
    written = any(c.kind == K.POSTMORTEM and c.state == S.MET for c in case.clocks)
    if written or plan.case.live(K.POSTMORTEM) is not None:
        return
    ref = plan.start(K.POSTMORTEM, Priority(page.priority), page.request_type, event.at,
                     f"closed by {event.closer or '?'}")  # fmt: skip
    plan.owe(Owed.POSTMORTEM, ref, event.at, note=str(page.id))


def _ended(event: Closed) -> str:
    return "closed" if not event.gone else "gone"


def _reopened(plan: _Plan, event: Reopened) -> None:
    """Rule 3: a paging priority pages again; an answered request owes a next response;
    one nobody answered gets a new first-response clock from the reopen."""
    case = plan.case
    if event.priority is None or case.live(K.RESPONSE) is not None:
        return
    if pages(plan.policy, event.priority) or case.answered() is None:
        request_type = event.request_type or case.request_type()
        _open_response(plan, event.priority, request_type, event.at, "reopened")
        return
    lead = _last_met(plan)
    if lead is not None:
        relabeled = replace(lead, priority=str(event.priority))
        _follow(plan, K.NEXT_RESPONSE, relabeled, event.at, "reopened")
        _follow(plan, K.RESOLUTION, relabeled, event.at, "reopened")


def _acknowledge(plan: _Plan, episode: Clock, at: datetime, who: str, note: str) -> None:
    owed = [Owe(Owed.PAGE_STATUS, episode.id, at, who, note)]
    if note == ACKNOWLEDGED:
        owed.insert(0, Owe(Owed.ACK_COMMENT, episode.id, at, who))
    if plan.policy.oncall.pagerduty:
        owed.append(Owe(Owed.PD_ACKNOWLEDGE, episode.id, at))
    plan.mark(episode, owed, unless="acked_at", acked_at=at, escalate_at=None)


def _acknowledged(plan: _Plan, event: Acknowledged) -> None:
    """The on-call engineer took it: the customer is told who, the first response is met at
    this moment, the incident acknowledged, the page shows it (rule 6: not once over)."""
    episode = plan.case.find(event.page)
    if episode is None or not episode.episode_live or episode.acked_at is not None:
        return
    _acknowledge(plan, episode, event.at, event.who, ACKNOWLEDGED)
    if (live := plan.case.find(event.page)) is not None and live.live:
        _meets_first(plan, live, max(event.at, live.started_at), event.who,
                     by=f"acknowledged by {event.who}")  # fmt: skip


def _resolved(plan: _Plan, event: Resolved) -> None:
    """Resolved from the page by a person: the customer is told, the issue closes as
    completed (its close starts the post-mortem), the incident is resolved."""
    episode = plan.case.find(event.page)
    if episode is None or not episode.episode_live or not event.person:
        return
    if episode.live:
        _meets_first(plan, episode, max(event.at, episode.started_at), event.who,
                     by=f"resolved by {event.who}")  # fmt: skip
    plan.owe(Owed.RESOLVED_COMMENT, episode.id, event.at, event.who)
    plan.owe(Owed.CLOSE_ISSUE, episode.id, event.at, event.who)
    _end_episode(plan, RESOLVED, event.at, event.who)


def _due(plan: _Plan, event: Due) -> None:
    clock = plan.case.find(event.clock)
    if clock is None:
        return
    if event.what == "expire" and clock.state == S.RUNNING and clock.due_at <= event.now:
        _expire(plan, clock, event.now)
    elif event.what == "warn" and clock.state == S.RUNNING and clock.warned_at is None:
        plan.mark(clock, (Owe(Owed.WARNING, clock.id, event.now),), unless="warned_at",
                  state=S.RUNNING, warned_at=event.now)  # fmt: skip
    elif event.what == "escalate":
        _escalate(plan, clock, event.now)


def _expire(plan: _Plan, clock: Clock, now: datetime) -> None:
    """A breach alerts once; an overdue update interval (rule 5) alerts once however many
    intervals were missed, and the next interval runs from now."""
    breached = plan.move(clock, E.EXPIRE, now)
    if breached is None or clock.kind != K.UPDATE:
        return
    plan.move(breached, E.LAPSE, now, by="no update in time")
    lead = _last_met(plan)
    if lead is not None and plan.case.is_open:
        _follow(plan, K.UPDATE, replace(lead, priority=clock.priority), now,
                "the last interval lapsed")  # fmt: skip


def _escalate(plan: _Plan, clock: Clock, now: datetime) -> None:
    """Once per episode, from the page (rule 10), never once acknowledged, answered or over."""
    wait = plan.policy.oncall.escalate_after.wall_clock
    owed: tuple[Owe, ...] = ()
    if (
        clock.episode_live and clock.acked_at is None and clock.live
        and clock.paged_at is not None and plan.policy.slack.page_channel
    ):  # fmt: skip
        if now < clock.paged_at + wait:
            return  # the policy now waits longer than when the page went out
        owed = (Owe(Owed.ESCALATE, clock.id, now),)
    plan.mark(clock, owed, if_set="escalate_at", escalate_at=None)


# --- one definition of met and breached -------------------------------------------------


class Verdict(StrEnum):
    MET = "met"
    BREACHED = "breached"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"  # ended before its due time, unanswered (closed, moved, relabeled)


def verdict(clock: Clock, now: datetime) -> Verdict:
    """How a clock came out, for the alerts, `status`, `report` and the metrics alike: met
    if answered by its due time (paused time never counts), breached if its due time passed
    before an answer or its end, else running, paused, or closed in time."""
    if clock.breached_at is not None:
        return Verdict.BREACHED
    if clock.met_at is not None:
        return Verdict.MET if clock.met_at <= clock.due_at else Verdict.BREACHED
    if clock.state == S.PAUSED:
        return Verdict.PAUSED
    if clock.state == S.RUNNING:
        return Verdict.BREACHED if now >= clock.due_at else Verdict.RUNNING
    ended = clock.ended_at or now
    return Verdict.BREACHED if ended > clock.due_at else Verdict.CLOSED


def moved_values(
    clock: Clock, target: ClockState, policy: Policy, at: datetime, now: datetime
) -> dict[str, object]:
    """The columns a transition to `target` sets: times, and paused time settled. A clock
    that ends while paused has its due time moved on by the pause, as a resume would: it
    is judged on the time it counted."""
    kind, priority = clock.kind_enum, Priority(clock.priority)
    measure = policy.measure(kind, priority)
    pauses = Pauses(timedelta(seconds=clock.paused_seconds), clock.paused_at, clock.resumed_at)
    if target is S.PAUSED:
        return {"paused_at": pauses.pause(at).since}
    if target is S.BREACHED:
        return {"breached_at": now}
    settled = pauses.resume(at, measure)
    values: dict[str, object] = {
        "paused_at": None, "paused_seconds": int(settled.paused.total_seconds()),
        "resumed_at": settled.until,
    }  # fmt: skip
    span = settled.paused - pauses.paused
    if span:
        values["due_at"] = policy.extend(kind, priority, clock.due_at, span)
        if clock.warn_at is not None and clock.warned_at is None:
            values["warn_at"] = policy.extend(kind, priority, clock.warn_at, span)
    if target is S.RUNNING:
        return values
    values.update(ended_at=at, escalate_at=None)  # an ended clock is escalated no more
    if target is S.MET:
        took = (
            at - clock.started_at  # post-mortems run on the wall clock
            if kind is K.POSTMORTEM
            else pauses.counted(clock.started_at, at, measure)
        )
        values.update(met_at=at, response_seconds=int(took.total_seconds()))
    return values


LIVE_STATES = LIVE
