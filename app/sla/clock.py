"""The SLA clock lifecycle as data: one table of states, events and effects, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ClockState(StrEnum):
    RUNNING = "running"
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


class Effect(StrEnum):
    ALERT_BREACH = "alert-breach"  # one Slack alert, recorded only once Slack accepted it
    LABEL_BREACHED = "label-breached"  # add `sla: breached`
    REPLY_IN_THREAD = "reply-in-thread"  # a late response, posted in the breach alert's thread


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
    (S.BREACHED, E.RESPOND): Transition(S.MET, (Effect.REPLY_IN_THREAD,)),
    (S.BREACHED, E.CLOSE): Transition(S.STOPPED),
    (S.BREACHED, E.RELABEL): Transition(S.REPLACED),
    (S.BREACHED, E.UNLABEL): Transition(S.DROPPED),
}
LIVE = frozenset({S.RUNNING, S.BREACHED})
FINAL = frozenset(ClockState) - LIVE


def step(state: ClockState, event: ClockEvent) -> Transition | None:
    """The transition for `event` in `state`; None means the event changes nothing.

    Final states absorb everything: an edited or deleted comment never reopens a met clock.
    """
    return TRANSITIONS.get((state, event))


def mermaid() -> str:
    """The state diagram, generated from the table (the README embeds this text)."""
    lines = ["stateDiagram-v2", "    [*] --> running: priority label put on"]
    for (src, event), transition in TRANSITIONS.items():
        effects = f" / {', '.join(transition.effects)}" if transition.effects else ""
        lines.append(f"    {src} --> {transition.target}: {event}{effects}")
    lines.extend(f"    {state} --> [*]" for state in sorted(FINAL))
    return "\n".join(lines)
