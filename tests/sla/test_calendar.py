"""Table tests for the business calendar: weekends, holidays, closed dates, DST, edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.sla.calendar import BusinessCalendar

AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {day: (time(9), time(17)) for day in range(5)}
EVERY_DAY_9_TO_5 = {day: (time(9), time(17)) for day in range(7)}
ALL_DAY = {day: (time(0), time(0)) for day in range(7)}  # 00:00-24:00

ams = BusinessCalendar(AMS, WEEKDAYS_9_TO_5, frozenset({date(2026, 12, 24)}), "NL")
ny = BusinessCalendar(NY, WEEKDAYS_9_TO_5, frozenset(), "US")


def at(tz: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


H, M = timedelta(hours=1), timedelta(minutes=1)

ADD_CASES = [
    # (calendar, start, duration, expected, why)
    (ams, "2026-01-02 16:30", H, "2026-01-05 09:30", "Friday 16:30 + 1h = Monday 09:30"),
    (ams, "2026-01-03 12:00", H, "2026-01-05 10:00", "Saturday: counting starts Monday"),
    (ams, "2026-01-05 07:00", 30 * M, "2026-01-05 09:30", "before opening"),
    (ams, "2026-01-05 09:00", 8 * H, "2026-01-05 17:00", "from opening: ends at the close"),
    (ams, "2026-01-05 17:00", H, "2026-01-06 10:00", "from closing: next morning"),
    (ams, "2026-01-05 17:00", timedelta(0), "2026-01-06 09:00", "zero from a close: opening"),
    (ams, "2026-01-05 12:34", timedelta(0), "2026-01-05 12:34", "zero in open time"),
    (ams, "2026-01-05 16:00", H, "2026-01-05 17:00", "lands on the close: stays"),
    (ams, "2026-01-05 09:00", 40 * H, "2026-01-09 17:00", "a full week"),
    (ams, "2026-04-24 16:30", H, "2026-04-28 09:30", "King's Day (Mon 27 Apr) skipped"),
    (ams, "2026-12-23 16:00", 2 * H, "2026-12-28 10:00", "24 Dec closed, Christmas holidays"),
    (ams, "2026-12-31 16:00", 2 * H, "2027-01-04 10:00", "New Year's Day, across the year"),
    (ams, "2026-03-27 16:00", 2 * H, "2026-03-30 10:00", "DST starts Sun 29 Mar"),
    (ams, "2026-10-23 16:00", 2 * H, "2026-10-26 10:00", "DST ends Sun 25 Oct"),
    (ny, "2026-03-06 16:00", 2 * H, "2026-03-09 10:00", "New York DST starts Sun 8 Mar"),
    (ny, "2026-10-30 16:00", 2 * H, "2026-11-02 10:00", "New York DST ends Sun 1 Nov"),
    (ny, "2026-11-25 16:00", 2 * H, "2026-11-27 10:00", "Thanksgiving"),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "expected", "why"), ADD_CASES)
def test_add(
    calendar: BusinessCalendar, start: str, duration: timedelta, expected: str, why: str
) -> None:
    result = calendar.add(at(calendar.tz, start), duration)
    assert result == at(calendar.tz, expected), why
    assert result.tzinfo is calendar.tz
    assert result.utcoffset() == at(calendar.tz, expected).utcoffset()


def test_add_returns_the_calendars_zone_for_any_aware_input() -> None:
    result = ams.add(datetime(2026, 1, 2, 15, 30, tzinfo=UTC), H)
    assert result == at(AMS, "2026-01-05 09:30")
    assert result.tzinfo is AMS


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-01-02 10:00", 1, "2026-01-05 17:00"),  # from Friday
        ("2026-01-03 10:00", 1, "2026-01-05 17:00"),  # from Saturday
        ("2026-01-05 23:30", 1, "2026-01-06 17:00"),  # late at night
        ("2026-04-26 10:00", 1, "2026-04-28 17:00"),  # Sunday before King's Day
        ("2026-04-24 10:00", 1, "2026-04-28 17:00"),  # Friday before King's Day
        ("2026-12-23 10:00", 1, "2026-12-28 17:00"),  # 24 Dec closed, 25-26 holidays
        ("2026-01-02 10:00", 3, "2026-01-07 17:00"),
        ("2026-03-27 10:00", 1, "2026-03-30 17:00"),  # across DST
    ],
)
def test_close_of_business_day(start: str, n: int, expected: str) -> None:
    assert ams.close_of_business_day(at(AMS, start), n) == at(AMS, expected)


def test_close_of_business_day_counts_from_the_local_date() -> None:
    # 23:30 UTC on Wednesday is already Thursday in Amsterdam
    start = datetime(2026, 1, 7, 23, 30, tzinfo=UTC)
    assert ams.close_of_business_day(start) == at(AMS, "2026-01-09 17:00")


def test_close_of_business_day_needs_a_positive_n() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ams.close_of_business_day(at(AMS, "2026-01-05 10:00"), 0)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 5), True),
        (date(2026, 1, 3), False),  # Saturday
        (date(2026, 4, 27), False),  # King's Day
        (date(2026, 12, 25), False),  # Christmas
        (date(2026, 12, 24), False),  # explicit closed date
        (date(2027, 4, 27), False),  # holidays expand lazily by year
    ],
)
def test_is_business_day(day: date, expected: bool) -> None:
    assert ams.is_business_day(day) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-01-05 09:00", True),
        ("2026-01-05 16:59:59.999999", True),
        ("2026-01-05 17:00", False),
        ("2026-01-05 08:59:59", False),
        ("2026-01-03 12:00", False),
    ],
)
def test_is_open(moment: str, expected: bool) -> None:
    assert ams.is_open(at(AMS, moment)) is expected


def test_next_open() -> None:
    assert ams.next_open(at(AMS, "2026-01-05 10:00")) == at(AMS, "2026-01-05 10:00")
    assert ams.next_open(at(AMS, "2026-01-02 17:00")) == at(AMS, "2026-01-05 09:00")
    assert ams.next_open(at(AMS, "2026-12-31 18:00")) == at(AMS, "2027-01-04 09:00")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2026-01-02 16:00", "2026-01-05 10:00", 2 * H),
        ("2026-03-27 16:00", "2026-03-30 10:00", 2 * H),  # DST changes nothing
        ("2026-01-05 10:00", "2026-01-05 10:00", timedelta(0)),
        ("2026-01-05 11:00", "2026-01-05 10:00", timedelta(0)),
        ("2026-12-31 12:00", "2027-01-05 12:00", 5 * H + 8 * H + 3 * H),
        # 261 weekdays; closed: 1 Jan, Good Friday, Easter Monday, King's Day, Ascension,
        # Whit Monday, 24 Dec (explicit), Christmas Day
        ("2026-01-01 00:00", "2027-01-01 00:00", 8 * H * (261 - 8)),
    ],
)
def test_open_time_between(a: str, b: str, expected: timedelta) -> None:
    assert ams.open_time_between(at(AMS, a), at(AMS, b)) == expected


@pytest.mark.parametrize("tz", [AMS, NY])
def test_a_nine_to_five_day_is_eight_hours_on_dst_days(tz: ZoneInfo) -> None:
    calendar = BusinessCalendar(tz, EVERY_DAY_9_TO_5)
    for day in ("2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01"):
        start = at(tz, f"{day} 00:00")
        assert calendar.open_time_between(start, start + timedelta(days=1)) == 8 * H
        assert calendar.add(start, 8 * H) == at(tz, f"{day} 17:00")


def test_a_whole_day_is_as_long_as_the_clocks_say() -> None:
    calendar = BusinessCalendar(AMS, ALL_DAY)
    spring, autumn = at(AMS, "2026-03-29 00:00"), at(AMS, "2026-10-25 00:00")
    assert calendar.open_time_between(spring, at(AMS, "2026-03-30 00:00")) == 23 * H
    assert calendar.open_time_between(autumn, at(AMS, "2026-10-26 00:00")) == 25 * H
    assert calendar.add(spring, 24 * H) == at(AMS, "2026-03-30 01:00")


def test_skipped_and_repeated_wall_times() -> None:
    calendar = BusinessCalendar(AMS, {6: (time(2, 30), time(4))})  # Sundays 02:30-04:00
    # 29 Mar 2026: 02:30 does not exist; the day opens when the clocks jump, at 03:30 CEST
    assert calendar.next_open(at(AMS, "2026-03-28 12:00")).isoformat() == (
        "2026-03-29T03:30:00+02:00"
    )
    spring = at(AMS, "2026-03-29 00:00")
    assert calendar.open_time_between(spring, spring + timedelta(days=1)) == 30 * M
    # 25 Oct 2026: 02:30 happens twice; the day opens at the first, so it lasts 2h30m
    assert calendar.next_open(at(AMS, "2026-10-24 12:00")).isoformat() == (
        "2026-10-25T02:30:00+02:00"
    )
    autumn = at(AMS, "2026-10-25 00:00")
    assert calendar.open_time_between(autumn, autumn + timedelta(days=1)) == 2 * H + 30 * M


def test_never_loops_forever_over_long_closures() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=k) for k in range(52))
    calendar = BusinessCalendar(AMS, {0: (time(9), time(17))}, mondays)
    assert calendar.add(at(AMS, "2026-01-01 00:00"), H) == at(AMS, "2027-01-04 10:00")
    assert calendar.close_of_business_day(at(AMS, "2026-01-01 00:00")) == (
        at(AMS, "2027-01-04 17:00")
    )
    with pytest.raises(OverflowError):
        calendar.add(at(AMS, "9999-12-20 00:00"), 100 * H)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hours": {}}, "at least one weekday"),
        ({"hours": {0: (time(17), time(9))}}, "not after open"),
        ({"hours": {7: (time(9), time(17))}}, "weekday must be"),
        ({"hours": {0: (time(9, tzinfo=UTC), time(17))}}, "naive times"),
        ({"hours": WEEKDAYS_9_TO_5, "holiday_subdiv": "BY"}, "needs a holiday country"),
        ({"hours": WEEKDAYS_9_TO_5, "holiday_country": "XX"}, "XX"),
        ({"hours": WEEKDAYS_9_TO_5, "holiday_country": "DE", "holiday_subdiv": "ZZ"}, "ZZ"),
    ],
)
def test_rejects_bad_calendars(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(AMS, **kwargs)  # type: ignore[arg-type]


def test_rejects_naive_datetimes_and_negative_durations() -> None:
    naive = datetime(2026, 1, 5, 10, 0)
    aware = at(AMS, "2026-01-05 10:00")
    for call in (
        lambda: ams.is_open(naive),
        lambda: ams.next_open(naive),
        lambda: ams.add(naive, H),
        lambda: ams.open_time_between(naive, aware),
        lambda: ams.open_time_between(aware, naive),
        lambda: ams.close_of_business_day(naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()
    with pytest.raises(ValueError, match="negative"):
        ams.add(aware, -H)
