"""Properties of the business calendar, and agreement with independent implementations."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.tseries.offsets import CustomBusinessDay, CustomBusinessHour

from app.sla.calendar import BusinessCalendar

AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")
CALENDARS = {
    "amsterdam 9-5, NL holidays": BusinessCalendar(
        AMS,
        {day: (time(9), time(17)) for day in range(5)},
        frozenset({date(2026, 12, 24), date(2027, 12, 24)}),
        "NL",
    ),
    "new york, uneven days": BusinessCalendar(
        NY,
        {0: (time(8, 30), time(18)), 2: (time(7), time(12, 15)), 4: (time(10), time(10, 1))},
        frozenset(),
        "US",
    ),
    "amsterdam nights across DST": BusinessCalendar(
        AMS,
        {5: (time(22), time(0)), 6: (time(0), time(0)), 0: (time(1, 30), time(3, 30))},
    ),
}
MICROSECOND = timedelta(microseconds=1)


def utc(at: datetime) -> datetime:
    """Compare instants in UTC: Python compares two datetimes of one zone by wall time, and an
    ambiguous wall time never equals a datetime of another zone (PEP 495)."""
    return at.astimezone(UTC)


profile = settings(deadline=None, derandomize=True, max_examples=150)
calendars = st.sampled_from(list(CALENDARS.values()))
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
positive = st.timedeltas(min_value=MICROSECOND, max_value=timedelta(days=30))


@profile
@given(calendars, instants, durations)
def test_results_lie_in_open_time_or_on_a_close(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    result = calendar.add(start, duration)
    assert utc(result) >= start
    assert calendar.is_open(result) or (duration and calendar.is_open(result - MICROSECOND))
    assert result.tzinfo is calendar.tz


@profile
@given(calendars, instants, durations, positive)
def test_adding_twice_is_adding_the_sum(
    calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    assert utc(calendar.add(calendar.add(start, a), b)) == utc(calendar.add(start, a + b))


@profile
@given(calendars, instants, durations)
def test_open_time_between_undoes_add(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    assert calendar.open_time_between(start, calendar.add(start, duration)) == duration


@profile
@given(calendars, instants, instants, durations)
def test_add_is_monotonic_in_start(
    calendar: BusinessCalendar, a: datetime, b: datetime, duration: timedelta
) -> None:
    early, late = sorted((a, b))
    assert utc(calendar.add(early, duration)) <= utc(calendar.add(late, duration))


@profile
@given(calendars, instants, instants, instants)
def test_open_time_is_additive(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    between = calendar.open_time_between
    assert between(a, c) == between(a, b) + between(b, c)
    assert between(a, c) <= c - a


@profile
@given(calendars, instants)
def test_next_open_is_the_first_open_instant(calendar: BusinessCalendar, at: datetime) -> None:
    opening = calendar.next_open(at)
    assert utc(opening) >= at
    assert calendar.is_open(opening)
    assert calendar.open_time_between(at, opening) == timedelta(0)


@profile
@given(calendars, instants, st.integers(min_value=1, max_value=20))
def test_close_of_business_day_is_the_nth_business_day(
    calendar: BusinessCalendar, start: datetime, n: int
) -> None:
    close = calendar.close_of_business_day(start, n)
    first = start.astimezone(calendar.tz).date()
    last = (close - MICROSECOND).date()  # a 24:00 close belongs to the day before
    days = [first + timedelta(days=k) for k in range(1, (last - first).days + 1)]
    assert calendar.is_business_day(last)
    assert sum(map(calendar.is_business_day, days)) == n


def reference_add(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """A slow day-by-day walk with aware datetimes: the obvious implementation."""
    hours = {0: (time(1, 30), time(3, 30)), 5: (time(22), time(0)), 6: (time(0), time(0))}
    day, left = start.astimezone(AMS).date() - timedelta(days=1), duration
    while True:
        day += timedelta(days=1)
        if day.weekday() not in hours:
            continue
        opening, closing = hours[day.weekday()]
        opens = datetime.combine(day, opening, tzinfo=AMS).astimezone(UTC)
        end = day + timedelta(days=1) if closing == time(0) else day
        closes = datetime.combine(end, closing, tzinfo=AMS).astimezone(UTC)
        begin = max(opens, start.astimezone(UTC))
        if begin >= closes:
            continue
        if left == timedelta(0) or closes - begin >= left:
            return begin + left
        left -= closes - begin


@profile
@given(instants, durations)
def test_agrees_with_a_day_by_day_walk_across_dst(start: datetime, duration: timedelta) -> None:
    calendar = CALENDARS["amsterdam nights across DST"]
    assert utc(calendar.add(start, duration)) == reference_add(calendar, start, duration)


PANDAS_CASES = [
    ("09:00", "17:00", "Mon Tue Wed Thu Fri", {0, 1, 2, 3, 4}),
    ("08:00", "16:30", "Sun Mon Tue Wed Thu", {6, 0, 1, 2, 3}),
]


@pytest.mark.parametrize(("opening", "closing", "weekmask", "weekdays"), PANDAS_CASES)
def test_agrees_with_pandas_business_hours(
    opening: str, closing: str, weekmask: str, weekdays: set[int]
) -> None:
    closed = sorted(holidays.country_holidays("NL", years=range(2025, 2029)))
    hours = (time.fromisoformat(opening), time.fromisoformat(closing))
    utc = ZoneInfo("UTC")
    calendar = BusinessCalendar(utc, dict.fromkeys(weekdays, hours), frozenset(closed))
    rng = random.Random(20260427)
    for _ in range(300):
        start = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        n = rng.randint(1, 300)
        offset = CustomBusinessHour(
            n=n, start=opening, end=closing, weekmask=weekmask, holidays=closed
        )
        expected = (pd.Timestamp(start) + offset).to_pydatetime()
        # pandas moves a result that lands on a close to the next opening; we stay at the close
        result = calendar.next_open(calendar.add(start.replace(tzinfo=utc), timedelta(hours=n)))
        assert result.replace(tzinfo=None) == expected, (start, n)


def test_agrees_with_pandas_business_days() -> None:
    closed = sorted(holidays.country_holidays("NL", years=range(2025, 2029)))
    utc = ZoneInfo("UTC")
    weekdays = {day: (time(9), time(17)) for day in range(5)}
    calendar = BusinessCalendar(utc, weekdays, frozenset(closed))
    rng = random.Random(1815)
    for _ in range(300):
        start = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        n = rng.randint(1, 30)
        day = pd.Timestamp(start).normalize() + CustomBusinessDay(n=n, holidays=closed)
        expected = day.to_pydatetime() + timedelta(hours=17)
        result = calendar.close_of_business_day(start.replace(tzinfo=utc), n)
        assert result.replace(tzinfo=None) == expected, (start, n)
