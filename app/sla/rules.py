"""The decision core (pure): an issue's clocks, one event, the policy and `now` in; the
changes out (clocks to open, move or mark, and what each change owes). The store applies
them in one transaction (`app.store.tracking`); nothing here reads a clock, a database or the
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
12. A call to the escalation number opens its request at the call, before its issue exists:
    production down pages at once and its clock counts from the call; a call is opened once,
    however often Twilio repeats it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from app.sla.clock import Clock, ClockEvent, ClockKind, ClockState
from app.sla.domain import Priority
from app.sla.events import (
    ACKNOWLEDGED,
    ANSWERED,
    MOVED,
    RESOLVED,
    Acknowledged,
    Called,
    Case,
    Closed,
    Commented,
    Due,
    Event,
    Found,
    Opened,
    Owe,
    Owed,
    Paused,
    PostmortemDone,
    Prioritized,
    Reopened,
    Resolved,
    Step,
)
from app.sla.plan import FOLLOWERS, Plan
from app.sla.policy import Policy

__all__ = [  # the core's vocabulary comes with it: `rules.Opened`, `rules.decide`
    "Acknowledged",
    "Called",
    "Case",
    "Closed",
    "Commented",
    "Due",
    "Event",
    "Found",
    "Opened",
    "Owe",
    "Owed",
    "Paused",
    "PostmortemDone",
    "Prioritized",
    "Reopened",
    "Resolved",
    "Step",
    "decide",
    "enforced",
    "names_postmortem",
    "pages",
    "postmortem_link",
    "rule_list",
]
K, S, E = ClockKind, ClockState, ClockEvent
# What a responder writes when linking the post-mortem (rule 8).
POSTMORTEM_LINK = re.compile(r"post-?mortem", re.IGNORECASE)
LINK = re.compile(r"https?://\S+")


def names_postmortem(body: str) -> bool:
    """A comment that links the post-mortem: it says so and has a link."""
    return postmortem_link(body) is not None


def postmortem_link(body: str) -> str | None:
    """The link of a comment that names the post-mortem (its first), else None."""
    found = LINK.search(body)
    if POSTMORTEM_LINK.search(body) is None or found is None:
        return None
    return found.group(0).rstrip(").,;>")[:240]


def rule_list() -> str:
    """The numbered rules of this module's docstring (the README embeds this text)."""
    text = __doc__ or ""
    return text[text.index("1. ") :].strip()


def decide(case: Case, event: Event, policy: Policy, now: datetime) -> list[Step]:
    """The changes `event` makes to the issue in `case`, as of `now`."""
    plan = Plan(case, policy, now)
    match event:
        case Opened():
            _open_response(
                plan,
                event.priority,
                event.request_type,
                event.at,
                f"opened by {event.by}",
                only_if_new=True,
            )
        case Called():
            # Rule 12: as an opening, from the call; the issue, opened later, carries it.
            _open_response(
                plan,
                event.priority,
                event.request_type,
                event.at,
                f"call from {event.caller}",
                only_if_new=True,
            )
        case Found():
            request_type = event.request_type or plan.case.request_type()
            _open_response(
                plan, event.priority, request_type, event.at, event.by, announce=event.announce
            )
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
                plan.move(
                    follow_up,
                    E.RESPOND,
                    max(event.at, follow_up.started_at),
                    by="label postmortem: done",
                )
        case Acknowledged():
            _acknowledged(plan, event)
        case Resolved():
            _resolved(plan, event)
        case Due():
            _due(plan, event)
    return plan.steps


def enforced(policy: Policy, started_at: datetime) -> bool:
    """A request opened at `started_at` gets clocks (not before the policy's enforce_from)."""
    return policy.enforce_from is None or (
        started_at.astimezone(policy.tz).date() >= policy.enforce_from
    )


def pages(policy: Policy, priority: Priority) -> bool:
    return policy.pages(priority) and bool(policy.slack.page_channel)


def _open_response(
    plan: Plan,
    priority: Priority,
    request_type: str,
    at: datetime,
    by: str | None,
    *,
    announce: bool = True,
    only_if_new: bool = False,
) -> int | None:
    """A first-response clock: it pages or announces as the policy says (`announce=False`:
    rebuilt after the fact, quietly), with its resolution clock when the policy sets one."""
    policy = plan.policy
    if not enforced(policy, at):
        return None
    paging = announce and pages(policy, priority)
    owed = [Owed.PAGE] if paging else []
    if paging and policy.oncall.pagerduty:
        owed.append(Owed.TRIGGER)
    if announce and policy.spec(priority).announce and policy.slack.channel:
        owed.append(Owed.ANNOUNCE)
    ref = plan.start(
        K.RESPONSE, priority, request_type, at, by, page=paging, only_if_new=only_if_new, owed=owed
    )
    if policy.tracks(K.RESOLUTION, priority) and plan.case.live(K.RESOLUTION) is None:
        plan.start(K.RESOLUTION, priority, request_type, at, by)
    return ref


def _follow(plan: Plan, kind: ClockKind, lead: Clock, at: datetime, by: str) -> None:
    """A `kind` clock after the first response, when the policy sets one and none is live."""
    priority = Priority(lead.priority)
    if not plan.policy.tracks(kind, priority) or plan.case.live(kind) is not None:
        return
    told = (Owed.TELL,) if kind.told else ()
    plan.start(kind, priority, lead.request_type, at, by, owed=told)


def _end_followers(
    plan: Plan, event: ClockEvent, at: datetime, by: str | None = None, closer: str | None = None
) -> None:
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


def _end_episode(plan: Plan, note: str, at: datetime, who: str | None = None) -> None:
    """The incident episode is over: its PagerDuty incident is resolved, the page says why."""
    episode = plan.case.episode()
    if episode is None:
        return
    owed = [Owe(Owed.PAGE_STATUS, episode.id, at, who, note)]
    if plan.policy.oncall.pagerduty:
        owed.append(Owe(Owed.PD_RESOLVE, episode.id, at))
    plan.mark(episode, owed, unless="page_ended_at", page_ended_at=at, escalate_at=None)


def _prioritized(plan: Plan, event: Prioritized) -> None:
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


def _last_met(plan: Plan) -> Clock | None:
    met = [c for c in plan.case.responses() if c.state == S.MET]
    return met[-1] if met else None


def _responded(plan: Plan, event: Commented) -> None:
    case = plan.case
    at, who = event.at, event.author
    live = case.live(K.RESPONSE)
    if live is not None and at >= live.started_at:
        _meets_first_response(plan, live, at, who)
    elif live is None and case.is_open and (lead := _last_met(plan)) is not None:
        _renew_updates(plan, lead, at, who)
    if (
        (episode := plan.case.episode()) is not None
        and episode.acked_at is None
        and at >= episode.started_at
    ):
        _acknowledge(plan, episode, at, who, ANSWERED)
    waiting = plan.case.live(K.NEXT_RESPONSE)
    if waiting is not None and at >= waiting.started_at:
        plan.move(waiting, E.RESPOND, at, who=who)
    follow_up = plan.case.live(K.POSTMORTEM)
    if follow_up is not None and event.postmortem and at >= follow_up.started_at:
        # The link is kept with the clock: the status meeting shows where it was written.
        by = f"post-mortem {event.link}" if event.link else None
        plan.move(follow_up, E.RESPOND, at, who=who, by=by)


def _meets_first_response(
    plan: Plan, clock: Clock, at: datetime, who: str, by: str | None = None
) -> None:
    """The first response: met (a late one is posted in its breach alert's thread); an
    incident's updates are owed from it."""
    met = plan.move(clock, E.RESPOND, at, who=who, by=by)
    if met is not None and plan.case.is_open:
        _renew_updates(plan, met, at, who)


def _renew_updates(plan: Plan, lead: Clock, at: datetime, who: str) -> None:
    """A responder spoke on an incident: the interval running is met, the next runs from
    `at` (an older comment delivered late changes nothing: the newer interval stands)."""
    running = plan.case.live(K.UPDATE)
    if running is not None:
        if at < running.started_at:
            return
        plan.move(running, E.RESPOND, at, who=who)
    _follow(plan, K.UPDATE, lead, at, f"comment by {who}")


def _customer(plan: Plan, event: Commented) -> None:
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


def _paused(plan: Plan, event: Paused) -> None:
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


def _closed(plan: Plan, event: Closed) -> None:
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
    if not incident or not last or not policy.pages(Priority(last[0].priority)):
        return
    page = last[0]
    if page.paged_at is not None and policy.slack.page_channel:
        plan.owe(Owed.RESOLVED_IN_THREAD, page.id, event.at, event.closer)
    written = any(c.kind == K.POSTMORTEM and c.state == S.MET for c in case.clocks)
    if written or plan.case.live(K.POSTMORTEM) is not None:
        return
    ref = plan.start(
        K.POSTMORTEM,
        Priority(page.priority),
        page.request_type,
        event.at,
        f"closed by {event.closer or '?'}",
    )
    plan.owe(Owed.POSTMORTEM, ref, event.at, note=str(page.id))


def _ended(event: Closed) -> str:
    return "closed" if not event.gone else "gone"


def _reopened(plan: Plan, event: Reopened) -> None:
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


def _acknowledge(plan: Plan, episode: Clock, at: datetime, who: str, note: str) -> None:
    owed = [Owe(Owed.PAGE_STATUS, episode.id, at, who, note)]
    if note == ACKNOWLEDGED:
        owed.insert(0, Owe(Owed.ACK_COMMENT, episode.id, at, who))
    if plan.policy.oncall.pagerduty:
        owed.append(Owe(Owed.PD_ACKNOWLEDGE, episode.id, at))
    plan.mark(episode, owed, unless="acked_at", acked_at=at, escalate_at=None)


def _acknowledged(plan: Plan, event: Acknowledged) -> None:
    """The on-call engineer took it: the customer is told who, the first response is met at
    this moment, the incident acknowledged, the page shows it (rule 6: not once over)."""
    episode = plan.case.find(event.page)
    if episode is None or not episode.episode_live or episode.acked_at is not None:
        return
    _acknowledge(plan, episode, event.at, event.who, ACKNOWLEDGED)
    if (live := plan.case.find(event.page)) is not None and live.live:
        _meets_first_response(
            plan, live, max(event.at, live.started_at), event.who, by=f"acknowledged by {event.who}"
        )


def _resolved(plan: Plan, event: Resolved) -> None:
    """Resolved from the page by a person: the customer is told, the issue closes as
    completed (its close starts the post-mortem), the incident is resolved."""
    episode = plan.case.find(event.page)
    if episode is None or not episode.episode_live or not event.person:
        return
    if episode.live:
        _meets_first_response(
            plan,
            episode,
            max(event.at, episode.started_at),
            event.who,
            by=f"resolved by {event.who}",
        )
    plan.owe(Owed.RESOLVED_COMMENT, episode.id, event.at, event.who)
    plan.owe(Owed.CLOSE_ISSUE, episode.id, event.at, event.who)
    _end_episode(plan, RESOLVED, event.at, event.who)


def _due(plan: Plan, event: Due) -> None:
    clock = plan.case.find(event.clock)
    if clock is None:
        return
    if event.what == "expire" and clock.state == S.RUNNING and clock.due_at <= event.now:
        _expire(plan, clock, event.now)
    elif event.what == "warn" and clock.state == S.RUNNING and clock.warned_at is None:
        plan.mark(
            clock,
            (Owe(Owed.WARNING, clock.id, event.now),),
            unless="warned_at",
            state=S.RUNNING,
            warned_at=event.now,
        )
    elif event.what == "escalate":
        _escalate(plan, clock, event.now)


def _expire(plan: Plan, clock: Clock, now: datetime) -> None:
    """A breach alerts once; an overdue update interval (rule 5) alerts once however many
    intervals were missed, and the next interval runs from now."""
    breached = plan.move(clock, E.EXPIRE, now)
    if breached is None or clock.kind != K.UPDATE:
        return
    plan.move(breached, E.LAPSE, now, by="no update in time")
    lead = _last_met(plan)
    if lead is not None and plan.case.is_open:
        _follow(
            plan, K.UPDATE, replace(lead, priority=clock.priority), now, "the last interval lapsed"
        )


def _escalate(plan: Plan, clock: Clock, now: datetime) -> None:
    """Once per episode, from the page (rule 10), never once acknowledged, answered or over."""
    wait = plan.policy.oncall.escalate_after.wall_clock
    owed: tuple[Owe, ...] = ()
    if (
        clock.episode_live
        and clock.acked_at is None
        and clock.live
        and clock.paged_at is not None
        and plan.policy.slack.page_channel
    ):
        if now < clock.paged_at + wait:
            return  # the policy now waits longer than when the page went out
        owed = (Owe(Owed.ESCALATE, clock.id, now),)
    plan.mark(clock, owed, if_set="escalate_at", escalate_at=None)
