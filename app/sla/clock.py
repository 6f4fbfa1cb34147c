"""The SLA clock lifecycle as data: one table of states, events and effects, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ClockKind(StrEnum):
    """What a clock measures; an issue has at most one live clock of each kind."""

    RESPONSE = "response"  # the first response (never paused)
    NEXT_RESPONSE = "next_response"  # a customer comment after the team answered
    UPDATE = "update"  # one interval between updates during an incident (wall clock)
    RESOLUTION = "resolution"  # until the issue is closed
    POSTMORTEM = "postmortem"  # after a production-down issue closed as completed

    @property
    def pausable(self) -> bool:
        """Waiting on the customer stops these; the first response is owed regardless."""
        return KINDS[self].paused

    @property
    def told(self) -> bool:
        """The customer is shown this clock under the intake comment when it starts."""
        return KINDS[self].told


@dataclass(frozen=True)
class Kind:
    """What a kind of clock measures, as a support lead reads it (the README's table)."""

    target: str  # the policy key
    starts: str
    met_by: str
    paused: bool  # by the pause label (waiting on the customer)
    told: bool  # shown to the customer under the intake comment when it starts


KINDS = {
    ClockKind.RESPONSE: Kind(
        "`within`",
        "the priority label (intake, relabel up, reopen unanswered)",
        "the first responder comment, or Acknowledge",
        paused=False,
        told=False,
    ),
    ClockKind.NEXT_RESPONSE: Kind(
        "`next_response` (`first`: same as `within`)",
        "a customer comment after the team's last answer, or a reopen once answered",
        "the next responder comment",
        paused=True,
        told=True,
    ),
    ClockKind.UPDATE: Kind(
        "`updates_every` (wall clock)",
        "each responder comment while the issue is open; an overdue one, when the sweep sees it",
        "the next responder comment",
        paused=False,
        told=True,
    ),
    ClockKind.RESOLUTION: Kind(
        "`resolution` (its own `calendar`, else the priority's)",
        "with the first-response clock",
        "closing the issue",
        paused=True,
        told=False,
    ),
    ClockKind.POSTMORTEM: Kind(
        "`postmortem.within`",
        "a paging issue closed as one of `postmortem.after`, once per incident",
        "a responder's comment naming the post-mortem with a link, or `postmortem: done`",
        paused=False,
        told=False,
    ),
}


def kinds_table() -> str:
    """The kinds of clock as Markdown (the README embeds this text)."""
    lines = [
        "| kind (`sla-bot status`) | target (policy key) | starts | is met by | "
        "paused by `pause_label` | shown to the customer |",
        "|---|---|---|---|---|---|",
    ]
    for kind, spec in KINDS.items():
        lines.append(
            f"| `{kind}` | {spec.target} | {spec.starts} | {spec.met_by} | "
            f"{'yes' if spec.paused else 'no'} | {'yes' if spec.told else 'no'} |"
        )
    return "\n".join(lines)


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting on the customer: the time does not count
    MET = "met"
    BREACHED = "breached"
    STOPPED = "stopped"
    REPLACED = "replaced"
    DROPPED = "dropped"


class ClockEvent(StrEnum):
    RESPOND = "respond"  # first comment by a responder (not the author, not a bot)
    EXPIRE = "expire"  # the sweep found the due time passed
    CLOSE = "close"  # the issue was closed
    RELABEL = "relabel"  # another priority label now counts: a new clock replaces this one
    UNLABEL = "unlabel"  # every priority label was removed: tracking stops
    PAUSE = "pause"  # the pause label was put on (next-response and resolution clocks only)
    RESUME = "resume"  # the pause label came off, or the customer commented
    LAPSE = "lapse"  # an overdue update interval gives way to the next interval


class Effect(StrEnum):
    ALERT_BREACH = "alert-breach"  # one Slack alert, recorded only once Slack accepted it
    LABEL_BREACHED = "label-breached"  # add `sla: breached`
    REPLY_IN_THREAD = "reply-in-thread"  # a late response, posted in the breach alert's thread


@dataclass(frozen=True)
class Clock:
    """One clock as the store holds it: plain data the decision core reads."""

    id: int
    installation_id: int | None
    repo: str
    issue_number: int
    kind: str
    priority: str
    request_type: str
    state: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    met_at: datetime | None
    ended_at: datetime | None
    responder: str | None
    response_seconds: int | None
    issue_title: str
    issue_url: str
    issue_author: str
    paused_at: datetime | None = None
    paused_seconds: int = 0
    resumed_at: datetime | None = None
    started_by: str | None = None
    ended_by: str | None = None
    escalate_at: datetime | None = None
    # A first-response clock that paged on-call is an incident episode: paged then,
    # acknowledged then (a button, PagerDuty, or a responder's answer on GitHub), over then
    # (resolved, closed, or no longer a paging priority). One page, one incident, each.
    paged_at: datetime | None = None
    acked_at: datetime | None = None
    page_ended_at: datetime | None = None

    @property
    def kind_enum(self) -> ClockKind:
        return ClockKind(self.kind)

    @property
    def live(self) -> bool:
        return ClockState(self.state) in LIVE

    @property
    def episode_live(self) -> bool:
        """An incident episode that paged and is not over."""
        return self.paged_at is not None and self.page_ended_at is None


@dataclass(frozen=True)
class Transition:
    target: ClockState
    effects: tuple[Effect, ...] = ()


S, E = ClockState, ClockEvent
TRANSITIONS: dict[tuple[ClockState, ClockEvent], Transition] = {
    (S.RUNNING, E.RESPOND): Transition(S.MET),
    (S.RUNNING, E.EXPIRE): Transition(S.BREACHED, (Effect.ALERT_BREACH, Effect.LABEL_BREACHED)),
    (S.RUNNING, E.CLOSE): Transition(S.STOPPED),
    (S.RUNNING, E.RELABEL): Transition(S.REPLACED),
    (S.RUNNING, E.UNLABEL): Transition(S.DROPPED),
    (S.RUNNING, E.PAUSE): Transition(S.PAUSED),
    (S.PAUSED, E.RESUME): Transition(S.RUNNING),
    (S.PAUSED, E.RESPOND): Transition(S.MET),
    (S.PAUSED, E.CLOSE): Transition(S.STOPPED),
    (S.PAUSED, E.RELABEL): Transition(S.REPLACED),
    (S.PAUSED, E.UNLABEL): Transition(S.DROPPED),
    (S.BREACHED, E.RESPOND): Transition(S.MET, (Effect.REPLY_IN_THREAD,)),
    (S.BREACHED, E.CLOSE): Transition(S.STOPPED),
    (S.BREACHED, E.RELABEL): Transition(S.REPLACED),
    (S.BREACHED, E.UNLABEL): Transition(S.DROPPED),
    (S.BREACHED, E.LAPSE): Transition(S.STOPPED),
}
LIVE = frozenset({S.RUNNING, S.PAUSED, S.BREACHED})
FINAL = frozenset(ClockState) - LIVE


def step(state: ClockState, event: ClockEvent) -> Transition | None:
    """The transition for `event` in `state`; None means the event changes nothing.

    Final states absorb everything: an edited or deleted comment never reopens a met clock.
    A paused clock never expires (the sweep reads running clocks only), and a breached one
    is not paused: the promise was already broken.
    """
    return TRANSITIONS.get((state, event))


def mermaid() -> str:
    """The state diagram, generated from the table (the README embeds this text)."""
    lines = ["stateDiagram-v2", "    [*] --> running: start (see the kinds of clock)"]
    for (src, event), transition in TRANSITIONS.items():
        effects = f" / {', '.join(transition.effects)}" if transition.effects else ""
        lines.append(f"    {src} --> {transition.target}: {event}{effects}")
    lines.extend(f"    {state} --> [*]" for state in sorted(FINAL))
    return "\n".join(lines)


def table() -> str:
    """The transition table as Markdown (the README embeds this text too)."""
    lines = ["| in state | on event | goes to | and owes |", "|---|---|---|---|"]
    for (src, event), transition in TRANSITIONS.items():
        owed = ", ".join(f"`{e}`" for e in transition.effects) or "nothing"
        lines.append(f"| {src} | {event} | {transition.target} | {owed} |")
    return "\n".join(lines)
