"""SLA compliance: requests, met, breached, running, % met, median and p90 first response."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.notify.messages import format_time, humanize
from app.reports.names import BUILT_IN, Names
from app.sla.clock import Clock, ClockKind
from app.sla.outcome import Verdict, verdict

MET, BREACHED, RUNNING, CLOSED = "met", "breached", "running", "closed"


def outcome(clock: Clock, now: datetime) -> str:
    """How a request's clock came out (`rules.verdict`, the alerts' own definition): met in
    time, breached, still running (waiting on the customer included), or closed early."""
    judged = verdict(clock, now)
    return RUNNING if judged is Verdict.PAUSED else str(judged)


@dataclass(frozen=True)
class Row:
    group: str  # "priority", "type", "target", "repository", or "all"
    name: str  # the key for a priority or type: it stays when the policy renames it
    requests: int
    met: int
    breached: int
    running: int
    closed: int
    percent_met: float | None
    median_response_minutes: float | None
    p90_response_minutes: float | None
    title: str = ""  # what people read: the policy's name for a priority or type


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (no interpolation): a value that really occurred."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil
    return ordered[int(rank) - 1]


def row(group: str, name: str, items: list[Clock], now: datetime, title: str = "") -> Row:
    """One row of counts, % met, median and p90 of `items` (each clock by `verdict`)."""
    outcomes = [outcome(c, now) for c in items]
    met, breached = outcomes.count(MET), outcomes.count(BREACHED)
    minutes = [c.response_seconds / 60 for c in items if c.response_seconds is not None]
    return Row(
        group=group,
        name=name,
        requests=len(items),
        met=met,
        breached=breached,
        running=outcomes.count(RUNNING),
        closed=outcomes.count(CLOSED),
        percent_met=round(100 * met / (met + breached), 1) if met + breached else None,
        median_response_minutes=round(statistics.median(minutes), 1) if minutes else None,
        p90_response_minutes=_round(percentile(minutes, 0.9)),
        title=title or name,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize(clocks: Iterable[Clock], now: datetime, names: Names = BUILT_IN) -> list[Row]:
    """One row per priority and per request type (the policy's, then any key only history
    has), plus a total; a request counts once, under its latest priority (replaced and
    dropped clocks are history, not requests)."""
    latest: dict[tuple[str, int], Clock] = {}
    for clock in sorted(clocks, key=lambda c: (c.started_at, c.id)):
        if clock.kind == "response":
            latest[(clock.repo, clock.issue_number)] = clock
    counted = [c for c in latest.values() if c.state != "dropped"]
    rows = [
        row("priority", p, [c for c in counted if c.priority == p], now, names.priority(p))
        for p in names.priority_order(c.priority for c in counted)
    ]
    rows += [
        row("type", t, [c for c in counted if c.request_type == t], now, names.type(t))
        for t in names.type_order(c.request_type for c in counted)
    ]
    rows += _targets(clocks, counted, now)
    rows += [
        row("repository", repo, [c for c in counted if c.repo == repo], now)
        for repo in sorted({c.repo for c in counted})
    ]
    rows.append(row("all", "all", counted, now))
    return rows


TARGETS = {
    ClockKind.RESPONSE: "first response",
    ClockKind.NEXT_RESPONSE: "next response",
    ClockKind.UPDATE: "updates",
    ClockKind.RESOLUTION: "resolution",
    ClockKind.POSTMORTEM: "post-mortem",
}


def _targets(clocks: Iterable[Clock], requests: list[Clock], now: datetime) -> list[Row]:
    """One row per kind of target: every next-response clock, update interval and so on
    counts; a clock replaced or dropped by a relabel does not (its successor does)."""
    by_kind: dict[str, list[Clock]] = {str(kind): [] for kind in TARGETS}
    by_kind[str(ClockKind.RESPONSE)] = requests
    for clock in clocks:
        if clock.kind != ClockKind.RESPONSE and clock.state not in ("replaced", "dropped"):
            by_kind.setdefault(clock.kind, []).append(clock)
    return [
        row("target", TARGETS[ClockKind(kind)], found, now)
        for kind, found in by_kind.items()
        if found or kind == ClockKind.RESPONSE
    ]


COLUMNS = ("requests", "met", "breached", "running", "closed", "% met", "median", "p90")


def as_table(rows: list[Row], title: str) -> str:
    """A table for people; response times in business minutes (the clock's calendar)."""
    lines = [title, f"{'':<24}" + "".join(f"{c:>10}" for c in COLUMNS)]
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            lines.append(f"by {group}:" if group != "all" else "")
        cells = (
            row.requests,
            row.met,
            row.breached,
            row.running,
            row.closed,
            percent(row.percent_met),
            duration(row.median_response_minutes),
            duration(row.p90_response_minutes),
        )
        lines.append(f"  {row.title or row.name:<22}" + "".join(f"{c!s:>10}" for c in cells))
    lines.append(FOOTNOTE)
    return "\n".join(lines)


FOOTNOTE = (
    "% met: of the requests whose clock is decided (met or breached). median, p90: time to "
    "the first response of answered requests, in time or late, counted on each priority's "
    "calendar (business hours; wall clock for 24/7). By target, each clock counts: every "
    "customer comment owed a next response, every update interval of an incident; their "
    "times leave out the time paused waiting on the customer"
)


def percent(value: float | None) -> str:
    """One decimal, always: 100.0% beside 33.3%."""
    return "-" if value is None else f"{value:.1f}%"


def duration(minutes: float | None) -> str:
    """`12m`, `14h 15m`, `2d 3h`: the way the Slack alerts write durations."""
    if minutes is None:
        return "-"
    days, rest = divmod(round(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins:02d}m" if mins else f"{hours}h"
    return f"{mins}m"


def status_line(clock: Clock, tz: ZoneInfo, now: datetime, names: Names = BUILT_IN) -> str:
    """One clock for people (`sla-bot status`): kind, state, start and why, due, pause, end."""
    started = f"started {format_time(clock.started_at, tz)}"
    if clock.started_by:
        started += f" ({clock.started_by})"
    when = f"due {format_time(clock.due_at, tz)}"
    if clock.state == "running":
        left = clock.due_at - now
        when += f" (in {humanize(left)})" if left.total_seconds() > 0 else " (overdue)"
    if clock.paused_at is not None:
        when += f", waiting on the customer since {format_time(clock.paused_at, tz)}"
    if clock.paused_seconds:  # on the clock's calendar: open time for business hours
        when += f", {humanize(timedelta(seconds=clock.paused_seconds))} paused (not counted)"
    if clock.met_at is not None:
        when += f", answered {format_time(clock.met_at, tz)} by {clock.responder or '?'}"
    elif clock.breached_at is not None:
        when += f", breached {format_time(clock.breached_at, tz)}"
    if clock.ended_at is not None and clock.ended_by and clock.met_at is None:
        when += f", ended {format_time(clock.ended_at, tz)} ({clock.ended_by})"
    judged = str(verdict(clock, now))  # the report's and the alerts' word for it
    shown = judged if judged == clock.state else f"{judged} ({clock.state})"
    return (
        f"{clock.repo}#{clock.issue_number}  {clock.kind} {names.priority(clock.priority)}  "
        f"{shown}  "
        f"{started}  {when}  {clock.issue_title[:60]}"
    )


def as_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def as_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(Row.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return out.getvalue()
