"""5. Calendar math: deadline computations per second across holidays (NL) and DST.

Starts are 2,000 random instants over 2026 and 2027 (fixed seed), aware UTC datetimes as
the app passes them. Spans run from an hour to about a year:

- `Policy.due_at` for the urgent priority of a policy with `holidays: {country: NL}` and
  `within` set to each span: minutes ("1h", "2000h") count open time through
  `BusinessCalendar.add`; days ("next-business-day", "5d", "250d") take the close of the
  N-th business day.
- `BusinessCalendar.add` directly, for open-time spans of 1 h to 2,000 h (250 business
  days of 8 h: about a calendar year).

"warm" is the steady state: the policy's calendar is shared and caches each year's open
windows. "cold" builds a new calendar for every call, as a policy read again does, so each
pays for the years it spans. The public holidays of a country's year are the process's
(app/sla/calendar.py): only a process's first deadline in a year pays for them too, about
half a millisecond more, once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench import profile
from bench.results import Result, fmt

NAME = "calendar"
TITLE = "5. Calendar math: deadlines per second"
SPANS_DUE = [
    ("1h", "an hour"),
    ("next-business-day", "next business day"),
    ("5d", "a week (5 business days)"),
    ("21d", "a month (21 business days)"),
    ("2000h", "a year (2,000 open hours)"),
    ("250d", "a year (250 business days)"),
]
SPANS_ADD = [
    (1, "1 h"),
    (8, "8 h (a day)"),
    (40, "40 h (a week)"),
    (168, "168 h (a month)"),
    (2000, "2,000 h (a year)"),
]
YEARLY = {"2000h", "250d", 2000}


def _policy(within: str) -> Any:
    from app.sla.policy import parse_policy

    return parse_policy(
        f'holidays: {{country: NL}}\npriorities: {{urgent: {{within: "{within}"}}}}'
    )


def _starts(n: int) -> list[datetime]:
    rng = random.Random(5)
    begin = datetime(2026, 1, 1, tzinfo=UTC)
    return [begin + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)) for _ in range(n)]


def _per_call(fn: Callable[[datetime], object], starts: list[datetime], runs: int) -> list[float]:
    """µs per call, one figure per run over all `starts`."""
    for start in starts[:50]:
        fn(start)  # warm: imports, caches the run is meant to have
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        for start in starts:
            fn(start)
        out.append((time.perf_counter() - began) / len(starts) * 1e6)
    return out


def _add(calendar: Any, span: timedelta, start: datetime) -> datetime:
    result: datetime = calendar.add(start, span)
    return result


def _cold_calendar() -> Callable[[], Any]:
    from datetime import time as clock_time
    from zoneinfo import ZoneInfo

    from app.sla.calendar import BusinessCalendar
    from app.sla.policy_sections import WEEKDAYS, default_hours

    hours = {
        WEEKDAYS.index(day): (clock_time.fromisoformat(o), clock_time.fromisoformat(c))
        for day, (o, c) in default_hours().items()
    }
    return lambda: BusinessCalendar(ZoneInfo("Europe/Amsterdam"), hours, frozenset(), "NL")


def run(quick: bool = False) -> list[Result]:
    from app.sla.domain import Priority

    starts = _starts(40 if quick else 2000)
    runs = 2 if quick else 7
    out = []
    for within, words in SPANS_DUE:
        policy = _policy(within)
        values = _per_call(partial(policy.due_at, Priority.URGENT), starts, runs)
        out.append(
            _result(f"Policy.due_at, {words} (`within: {within}`), warm", values, within in YEARLY)
        )
    calendar = _policy("1h").calendar
    for hours, words in SPANS_ADD:
        span = timedelta(hours=hours)
        values = _per_call(partial(_add, calendar, span), starts, runs)
        out.append(_result(f"BusinessCalendar.add, {words}, warm", values, hours in YEARLY))
    fresh = _cold_calendar()
    few = starts[: 10 if quick else 200]
    year = timedelta(hours=2000)
    values = _per_call(lambda s: fresh().add(s, year), few, max(1, runs // 2))
    cold = _result("BusinessCalendar.add, 2,000 h (a year), cold (new calendar)", values, True)
    if cold.met is False and not quick:

        def again() -> None:
            for start in few:
                fresh().add(start, year)

        cold.detail = (
            f"{len(few)} one-year additions, each on a new calendar, under cProfile:\n\n"
            + profile.cprofile(again)
        )
    out.append(cold)
    return out


def _result(name: str, micros: list[float], yearly: bool) -> Result:
    median = sorted(micros)[len(micros) // 2]
    result = Result(NAME, name, "µs", micros, note=f"{fmt(1e6 / median)} per second")
    if yearly:
        result.goal = "< 1,000 µs (1 ms)"
        result.check(1000.0)
    return result
