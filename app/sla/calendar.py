"""Business hours in one time zone: open time, DST-correct, without per-minute loops."""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_DAY_MICROS = 86_400 * 10**6
_MICROSECOND = timedelta(microseconds=1)
# No target reaches further: a policy that would (a minute open a week) is refused, and the
# deadline math stops here whatever it is given.
HORIZON_YEARS = 3
_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_ZERO = timedelta(0)


def _micros(at: datetime) -> int:
    """An aware datetime as exact microseconds since the epoch (UTC)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware datetime")
    return (at - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class _Year:
    """One local year: its open windows (µs since the epoch) and running open-time totals."""

    opens: list[int]
    closes: list[int]
    before: list[int]  # before[i] = open time in windows [0, i); before[-1] = the year's total
    days: list[date]  # business days, ascending
    day_closes: list[int]  # the close of each business day

    @property
    def total(self) -> int:
        return self.before[-1]

    def position(self, t: int) -> int:
        """Open time in this year before instant `t`."""
        i = bisect_right(self.closes, t)
        if i == len(self.opens):
            return self.total
        return self.before[i] + max(0, t - self.opens[i])

    def instant(self, position: int) -> int:
        """The earliest instant with `position` open time before it (0 < position <= total)."""
        j = bisect_left(self.before, position) - 1
        return self.opens[j] + position - self.before[j]


class BusinessCalendar:
    """Open hours per weekday in one time zone, minus public holidays and closed dates.

    Open hours are local wall times. Each business day is open from its opening instant up to
    (not including) its closing instant, so a 09:00-17:00 day is 8 h also on DST-change days.
    A wall time that does not exist (skipped by DST) means the instant the clocks jumped past
    it; an ambiguous one (repeated by DST) means its first occurrence. A close of 00:00 means
    midnight at the end of the day (24:00). All methods take aware datetimes (ValueError on
    naive ones) and return datetimes in the calendar's time zone.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        hours: Mapping[int, tuple[time, time]],
        closed_dates: frozenset[date] = frozenset(),
        holiday_country: str | None = None,
        holiday_subdiv: str | None = None,
    ) -> None:
        _check_hours(hours)
        if holiday_subdiv is not None and holiday_country is None:
            raise ValueError("a holiday subdivision needs a holiday country")
        if holiday_country is not None:
            try:  # validates the country and subdivision; years are added lazily
                _known_region(holiday_country, holiday_subdiv)
            except NotImplementedError as exc:
                raise ValueError(str(exc)) from exc
        self._tz = tz
        self._hours = dict(hours)
        self._closed_dates = frozenset(closed_dates)
        self._country = holiday_country
        self._subdiv = holiday_subdiv
        self._years: dict[int, _Year] = {}
        self._closed: dict[int, frozenset[date]] = {}
        self._offsets: dict[timedelta, int] = {}

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(tz={self._tz.key!r}, hours={self._hours!r}, "
            f"closed_dates=<{len(self._closed_dates)}>, holiday_country={self._country!r}, "
            f"holiday_subdiv={self._subdiv!r})"
        )

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def is_business_day(self, d: date) -> bool:
        """True if `d` has open hours and is neither a public holiday nor a closed date."""
        return d.weekday() in self._hours and d not in self._closed_in(d.year)

    def is_open(self, at: datetime) -> bool:
        """True if `at` lies in open time (an opening counts as open, a close does not)."""
        t = _micros(at)
        year = self._year(self._local_year(at))
        i = bisect_right(year.closes, t)
        return i < len(year.opens) and year.opens[i] <= t

    def next_open(self, at: datetime) -> datetime:
        """`at` itself if open, else the next opening."""
        t = _micros(at)
        number = self._local_year(at)
        while True:
            year = self._year(number)
            i = bisect_right(year.closes, t)
            if i < len(year.opens):
                return self._datetime(max(t, year.opens[i]))
            number += 1

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at or after `next_open(start)` with `duration` open time since.

        Counting begins at the next opening when `start` is closed, so adding zero from a
        closed instant gives that opening. A result that falls exactly on a close stays there
        rather than moving to the next opening.
        """
        if duration < timedelta(0):
            raise ValueError(f"negative duration {duration}")
        if not duration:
            return self.next_open(start)
        t = _micros(start)
        number = first = self._local_year(start)
        position = self._year(number).position(t) + duration // _MICROSECOND
        while position > (year := self._year(number)).total:
            position -= year.total
            number += 1
            if number - first > HORIZON_YEARS:  # bounded whatever the policy says
                raise OverflowError(f"{duration} of open time ends more than a few years out")
        return self._datetime(year.instant(position))

    def open_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in [a, b); zero if b <= a."""
        ta, tb = _micros(a), _micros(b)
        if tb <= ta:
            return timedelta(0)
        first, last = self._local_year(a), self._local_year(b)
        total = sum(self._year(number).total for number in range(first, last))
        total += self._year(last).position(tb) - self._year(first).position(ta)
        return total * _MICROSECOND

    def close_of_business_day(self, start: datetime, n: int = 1) -> datetime:
        """The close of the n-th business day after the local date of `start` (n >= 1)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        _micros(start)  # refuses a naive start
        local = start.astimezone(self._tz).date()
        number = local.year
        year = self._year(number)
        k = bisect_right(year.days, local) + n - 1
        while k >= len(year.days):
            k -= len(year.days)
            number += 1
            year = self._year(number)
        return self._datetime(year.day_closes[k])

    def _local_year(self, at: datetime) -> int:
        return at.astimezone(self._tz).year

    def _datetime(self, t: int) -> datetime:
        return (_EPOCH + t * _MICROSECOND).astimezone(self._tz)

    def _closed_in(self, number: int) -> frozenset[date]:
        closed = self._closed.get(number)
        if closed is None:
            public: frozenset[date] = frozenset()
            if self._country is not None:
                public = _public_holidays(self._country, self._subdiv, number)
            closed = frozenset(d for d in public | self._closed_dates if d.year == number)
            self._closed[number] = closed
        return closed

    def _year(self, number: int) -> _Year:
        year = self._years.get(number)
        if year is None:
            if number > MAXYEAR:
                raise OverflowError(f"the calendar ends with the year {MAXYEAR}")
            year = self._years[number] = self._build(number)
        return year

    def _build(self, number: int) -> _Year:
        # The hottest loop of a cold start (every business day of a year, twice): locals and
        # one inlined conversion of a local wall time to µs since the epoch.
        closed = self._closed_in(number)
        year = _Year([], [], [0], [], [])
        utcoffset, combine, fromordinal = self._tz.utcoffset, datetime.combine, date.fromordinal
        offsets = self._offsets
        plan = {
            weekday: (
                opening,
                _wall_micros(opening),
                closing,
                _wall_micros(closing),
                closing == _MIDNIGHT,
            )
            for weekday, (opening, closing) in self._hours.items()
        }
        for ordinal in range(date(number, 1, 1).toordinal(), date(number, 12, 31).toordinal() + 1):
            hours = plan.get((ordinal - 1) % 7)  # day 1 (0001-01-01) was a Monday
            if hours is None or (d := fromordinal(ordinal)) in closed:
                continue
            opening, open_wall, closing, close_wall, at_midnight = hours
            day = (ordinal - _EPOCH_ORDINAL) * _DAY_MICROS
            # fold=0: a skipped wall time maps past the gap, a repeated one to its first
            off = utcoffset(combine(d, opening)) or _ZERO
            if (shift := offsets.get(off)) is None:
                shift = offsets[off] = off // _MICROSECOND
            opens = day + open_wall - shift
            if at_midnight:  # a closing 00:00 is 24:00
                off = utcoffset(combine(d + _ONE_DAY, closing)) or _ZERO
                day += _DAY_MICROS
            else:
                off = utcoffset(combine(d, closing)) or _ZERO
            if (shift := offsets.get(off)) is None:
                shift = offsets[off] = off // _MICROSECOND
            closes = max(opens, day + close_wall - shift)
            year.days.append(d)
            year.day_closes.append(closes)
            if closes > opens:
                year.opens.append(opens)
                year.closes.append(closes)
                year.before.append(year.before[-1] + closes - opens)
        return year


@functools.lru_cache(maxsize=64)
def _known_region(country: str, subdiv: str | None) -> None:
    """Raises NotImplementedError for a country or subdivision the holidays package lacks
    (asked once a process per region: the package sets up its translations each time)."""
    holidays.country_holidays(country, subdiv=subdiv, years=[])


@functools.lru_cache(maxsize=256)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """A country's (and region's) public holidays in `year`, made once a process: the
    holidays package builds them anew, with their translations, each time it is asked (a
    third of a new calendar's first year), and a policy read again makes a new calendar."""
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


def _wall_micros(wall: time) -> int:
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 10**6 + wall.microsecond


def _check_hours(hours: Mapping[int, tuple[time, time]]) -> None:
    if not hours:
        raise ValueError("a business calendar needs open hours on at least one weekday")
    for weekday, (opening, closing) in hours.items():
        if weekday not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}")
        if opening.tzinfo is not None or closing.tzinfo is not None:
            raise ValueError("open hours are local wall times: pass naive times")
        if closing != _MIDNIGHT and closing <= opening:
            raise ValueError(f"weekday {weekday}: close {closing} is not after open {opening}")
