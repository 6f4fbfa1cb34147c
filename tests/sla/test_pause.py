"""Paused time, as properties: it never counts, and pause and resume in any order, repeated
or out of order, never lose or double a second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.clock import ClockKind
from app.sla.domain import Priority
from app.sla.pause import Pauses
from app.sla.policy import DEFAULT_POLICY

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam
WALL = DEFAULT_POLICY.measure(ClockKind.UPDATE, Priority.PRODUCTION_DOWN)
OPEN = DEFAULT_POLICY.measure(ClockKind.NEXT_RESPONSE, Priority.URGENT)  # business hours

minutes = st.integers(min_value=0, max_value=60 * 24 * 3)
# No deadline: a loaded CI machine (and libfaketime) must not turn slowness into failure.
profile = settings(deadline=None, derandomize=True, max_examples=200)
ops = st.lists(st.tuples(st.sampled_from(["pause", "resume"]), minutes), max_size=16)


def fold(events: list[tuple[str, int]], measure=WALL) -> Pauses:  # type: ignore[no-untyped-def]
    pauses = Pauses()
    for op, minute in events:
        at = T0 + timedelta(minutes=minute)
        pauses = pauses.pause(at) if op == "pause" else pauses.resume(at, measure)
    return pauses


def union(events: list[tuple[str, int]], end: int) -> int:
    """The model: minutes covered by [first pause, next later resume) spans, clipped at `end`."""
    covered: set[int] = set()
    since = None
    for op, minute in events:
        if op == "pause" and since is None:
            since = minute
        elif op == "resume" and since is not None:
            covered.update(range(since, max(since, minute)))
            since = None
    if since is not None:
        covered.update(range(since, max(since, end)))
    return len({m for m in covered if m < end})


@profile
@given(ops, minutes)
def test_paused_time_is_the_union_of_the_paused_spans(
    events: list[tuple[str, int]], end: int
) -> None:
    at_end = T0 + timedelta(minutes=end)
    ordered = [e for e in sorted(events, key=lambda e: e[1]) if e[1] <= end]
    assert fold(ordered).total(at_end, WALL) == timedelta(minutes=union(ordered, end))


@profile
@given(ops, minutes)
def test_counted_and_paused_time_add_up_to_the_elapsed_time(
    events: list[tuple[str, int]], end: int
) -> None:
    ordered = sorted(events, key=lambda e: e[1])
    if any(minute > end for _, minute in ordered):
        return
    for measure in (WALL, OPEN):
        pauses = fold(ordered, measure)
        at = T0 + timedelta(minutes=end)
        assert pauses.counted(T0, at, measure) + pauses.total(at, measure) == measure(T0, at)


@profile
@given(ops)
def test_whatever_the_order_paused_time_is_never_negative_nor_more_than_elapsed(
    events: list[tuple[str, int]],
) -> None:
    pauses = fold(events)  # deliveries may arrive in any order
    end = T0 + timedelta(minutes=max((m for _, m in events), default=0))
    assert timedelta(0) <= pauses.paused <= end - T0
    assert pauses.counted(T0, end, WALL) >= timedelta(0)


def test_a_second_pause_keeps_the_first_start_and_a_second_resume_adds_nothing() -> None:
    at = [T0 + timedelta(minutes=m) for m in (0, 10, 30, 50)]
    pauses = Pauses().pause(at[0]).pause(at[1]).resume(at[2], WALL).resume(at[3], WALL)
    assert (pauses.paused, pauses.is_paused) == (timedelta(minutes=30), False)


def test_a_pause_delivered_again_after_its_resume_pauses_no_second_twice() -> None:
    at = [T0 + timedelta(minutes=m) for m in (0, 10, 5, 15)]
    pauses = Pauses().pause(at[0]).resume(at[1], WALL)
    pauses = pauses.pause(at[0]).resume(at[1], WALL)  # a redelivery of both events
    assert pauses.paused == timedelta(minutes=10)
    pauses = pauses.pause(at[2]).resume(at[3], WALL)  # overlaps the first span: 10-15 counts
    assert pauses.paused == timedelta(minutes=15)


def test_paused_business_time_skips_the_night() -> None:
    friday_1630 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    monday_0930 = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    pauses = Pauses().pause(friday_1630).resume(monday_0930, OPEN)
    assert pauses.paused == timedelta(hours=1)  # 16:30-17:00 Friday, 09:00-09:30 Monday
