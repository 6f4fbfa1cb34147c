"""The clock lifecycle, walked the way issues live: what state a clock ends in and which
alerts and labels it owes on the way. Every transition is exercised by a story below."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sla.clock import (
    FINAL,
    LIVE,
    TRANSITIONS,
    ClockEvent,
    ClockState,
    Effect,
    mermaid,
    step,
    table,
)

S, E, F = ClockState, ClockEvent, Effect
EXERCISED: set[tuple[ClockState, ClockEvent]] = set()


def walk(*events: ClockEvent) -> tuple[ClockState, list[Effect]]:
    """Feed events to a new (running) clock; the state it ends in and every effect owed."""
    state, owed = S.RUNNING, []
    for event in events:
        transition = step(state, event)
        if transition is not None:
            EXERCISED.add((state, event))
            state = transition.target
            owed.extend(transition.effects)
    return state, owed


STORIES = {
    "answered in time: met, nobody alerted": ([E.RESPOND, E.EXPIRE], S.MET, []),
    "nobody answered: one alert and the breached label": (
        [E.EXPIRE],
        S.BREACHED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "every sweep sees it overdue: still one alert": (
        [E.EXPIRE, E.EXPIRE, E.EXPIRE],
        S.BREACHED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "answered late: met, the answer goes in the alert's thread": (
        [E.EXPIRE, E.RESPOND],
        S.MET,
        [F.ALERT_BREACH, F.LABEL_BREACHED, F.REPLY_IN_THREAD],
    ),
    "more answers, edits, a close after the first answer: nothing more": (
        [E.RESPOND, E.RESPOND, E.CLOSE, E.RELABEL, E.UNLABEL],
        S.MET,
        [],
    ),
    "closed before anyone answered: stopped, never breaches": (
        [E.CLOSE, E.EXPIRE, E.RESPOND],
        S.STOPPED,
        [],
    ),
    "closed after the breach: no thread reply for a later comment": (
        [E.EXPIRE, E.CLOSE, E.RESPOND],
        S.STOPPED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "relabeled to another priority: replaced, this clock never breaches": (
        [E.RELABEL, E.EXPIRE],
        S.REPLACED,
        [],
    ),
    "relabeled after its breach: replaced, no second alert": (
        [E.EXPIRE, E.RELABEL, E.EXPIRE],
        S.REPLACED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "every priority label removed: tracking stops": (
        [E.UNLABEL, E.EXPIRE, E.RESPOND],
        S.DROPPED,
        [],
    ),
    "labels removed after its breach: dropped, no reply in the thread": (
        [E.EXPIRE, E.UNLABEL, E.RESPOND],
        S.DROPPED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "waiting on the customer: a paused clock never breaches": (
        [E.PAUSE, E.EXPIRE, E.PAUSE, E.EXPIRE],
        S.PAUSED,
        [],
    ),
    "the customer answers: running again, then overdue": (
        [E.PAUSE, E.RESUME, E.RESUME, E.EXPIRE],
        S.BREACHED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "answered while waiting on the customer: met": ([E.PAUSE, E.RESPOND, E.RESUME], S.MET, []),
    "closed while waiting on the customer: stopped": ([E.PAUSE, E.CLOSE, E.RESUME], S.STOPPED, []),
    "relabeled while paused: replaced": ([E.PAUSE, E.RELABEL], S.REPLACED, []),
    "labels removed while paused: dropped": ([E.PAUSE, E.UNLABEL], S.DROPPED, []),
    "already breached: the pause label changes nothing": (
        [E.EXPIRE, E.PAUSE, E.EXPIRE],
        S.BREACHED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
    "an update interval overdue: one alert, then it lapses for the next interval": (
        [E.EXPIRE, E.LAPSE, E.EXPIRE, E.RESPOND],
        S.STOPPED,
        [F.ALERT_BREACH, F.LABEL_BREACHED],
    ),
}


@pytest.mark.parametrize(("events", "state", "owed"), STORIES.values(), ids=list(STORIES))
def test_story(events: list[ClockEvent], state: ClockState, owed: list[Effect]) -> None:
    assert walk(*events) == (state, owed)


def test_the_stories_exercise_every_transition() -> None:
    for events, _, _ in STORIES.values():
        walk(*events)
    assert set(TRANSITIONS) == EXERCISED  # a new transition needs a story of its own


@given(st.lists(st.sampled_from(list(ClockEvent)), max_size=12))
def test_whatever_happens_a_clock_alerts_at_most_once(events: list[ClockEvent]) -> None:
    state, owed = walk(*events)
    assert owed.count(F.ALERT_BREACH) <= 1 and owed.count(F.REPLY_IN_THREAD) <= 1
    assert owed.count(F.LABEL_BREACHED) == owed.count(F.ALERT_BREACH)
    if F.REPLY_IN_THREAD in owed:  # a thread reply needs its breach alert first
        assert owed.index(F.ALERT_BREACH) < owed.index(F.REPLY_IN_THREAD)
        assert state is S.MET
    if E.EXPIRE not in events:
        assert owed == []  # no alert without the sweep finding it overdue


@pytest.mark.parametrize("state", sorted(FINAL))
@pytest.mark.parametrize("event", list(ClockEvent))
def test_final_states_absorb_every_event(state: ClockState, event: ClockEvent) -> None:
    # An edited or deleted comment, a second close: nothing reopens a finished clock.
    assert step(state, event) is None


def test_live_and_final_partition_the_states() -> None:
    assert set(ClockState) == LIVE | FINAL and not LIVE & FINAL


def test_the_readme_diagram_and_table_are_the_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"```mermaid\n{mermaid()}\n```" in readme
    assert f"\n{table()}\n" in readme


def test_the_readme_kinds_table_is_the_core_s() -> None:
    from app.sla.clock import kinds_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"\n{kinds_table()}\n" in readme
