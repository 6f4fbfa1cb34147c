"""The clock lifecycle table: one test per transition, and the README diagram matches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sla.clock import (
    FINAL,
    LIVE,
    TRANSITIONS,
    ClockEvent,
    ClockState,
    Effect,
    mermaid,
    sources,
    step,
)

S, E = ClockState, ClockEvent
EXPECTED = [
    (S.RUNNING, E.RESPOND, S.MET, ()),
    (S.RUNNING, E.EXPIRE, S.BREACHED, (Effect.ALERT_BREACH, Effect.LABEL_BREACHED)),
    (S.RUNNING, E.CLOSE, S.STOPPED, ()),
    (S.RUNNING, E.RELABEL, S.REPLACED, ()),
    (S.RUNNING, E.UNLABEL, S.DROPPED, ()),
    (S.BREACHED, E.RESPOND, S.MET, (Effect.REPLY_IN_THREAD,)),
    (S.BREACHED, E.CLOSE, S.STOPPED, ()),
    (S.BREACHED, E.RELABEL, S.REPLACED, ()),
    (S.BREACHED, E.UNLABEL, S.DROPPED, ()),
]


@pytest.mark.parametrize(("state", "event", "target", "effects"), EXPECTED)
def test_transition(
    state: ClockState, event: ClockEvent, target: ClockState, effects: tuple[Effect, ...]
) -> None:
    transition = step(state, event)
    assert transition is not None
    assert (transition.target, transition.effects) == (target, effects)


def test_the_table_has_exactly_these_transitions() -> None:
    assert len(TRANSITIONS) == len(EXPECTED)


@pytest.mark.parametrize("state", sorted(FINAL))
@pytest.mark.parametrize("event", list(ClockEvent))
def test_final_states_absorb_every_event(state: ClockState, event: ClockEvent) -> None:
    # An edited or deleted comment, a second close: nothing reopens a finished clock.
    assert step(state, event) is None


def test_a_breached_clock_cannot_breach_twice() -> None:
    assert step(S.BREACHED, E.EXPIRE) is None


def test_live_and_final_partition_the_states() -> None:
    assert set(ClockState) == LIVE | FINAL and not LIVE & FINAL
    assert sources(S.MET) == (S.BREACHED, S.RUNNING)


def test_the_readme_diagram_is_the_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"```mermaid\n{mermaid()}\n```" in readme
