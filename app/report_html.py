"""`sla-bot report --format html`: one self-contained page for the status meeting.

No CDN, no script: inline CSS and two inline SVG charts (% met per week and priority, time to
first response), the summary table, the breached requests with links, and one line per
repository when there are several. Opens offline and travels as an email attachment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from app.domain import Priority
from app.report import BREACHED, COLUMNS, FOOTNOTE, MET, Row, duration, outcome, percent
from app.sla.clock import Clock

COLOURS = {"production-down": "#b60205", "urgent": "#d93f0b", "normal": "#0e8a16"}
# Time to first response, in minutes on the clock's calendar: the histogram's buckets.
BUCKETS = ((15, "< 15m"), (30, "15-30m"), (60, "30m-1h"), (120, "1-2h"), (240, "2-4h"),
           (480, "4-8h"), (1440, "8h-1d"), (None, "> 1d"))  # fmt: skip
STYLE = """
body{font:14px/1.4 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse}
td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.note{color:#666;font-size:.9em}
svg text{font-size:11px;fill:#333}
"""


def latest(clocks: Iterable[Clock]) -> list[Clock]:
    """A request counts once, under its latest response clock (as in the table)."""
    found: dict[tuple[str, int], Clock] = {}
    for clock in sorted(clocks, key=lambda c: (c.started_at, c.id)):
        if clock.kind == "response":
            found[(clock.repo, clock.issue_number)] = clock
    return [c for c in found.values() if c.state != "dropped"]


def as_html(
    rows: list[Row], clocks: Iterable[Clock], now: datetime, title: str, tz: ZoneInfo
) -> str:
    requests = latest(clocks)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p class='note'>As of {now.astimezone(tz):%a %d %b %Y %H:%M %Z}.</p>",
        "<h2>% met per week</h2>",
        weekly_chart(requests, now, tz),
        "<h2>Time to first response</h2>",
        histogram(requests, now),
        "<h2>Summary</h2>",
        table(rows),
        "<h2>Breached requests</h2>",
        breached(requests, now, tz),
    ]
    repos = sorted({c.repo for c in requests})
    if len(repos) > 1:
        parts += ["<h2>Per repository</h2>", per_repository(requests, now, repos)]
    parts.append(f"<p class='note'>{escape(FOOTNOTE)}.</p></body></html>")
    return "\n".join(parts)


def weekly_chart(requests: list[Clock], now: datetime, tz: ZoneInfo) -> str:
    """Grouped bars: for each ISO week, % met per priority (decided requests only)."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for clock in requests:
        year, number, _ = clock.started_at.astimezone(tz).isocalendar()
        counts[(f"{year}-W{number:02d}", clock.priority)][outcome(clock, now)] += 1
    weeks = sorted({week for week, _ in counts})
    if not weeks:
        return "<p>No requests in this period.</p>"
    priorities = [str(p) for p in Priority]
    bar, gap, height, left = 18, 24, 160, 40
    width = left + len(weeks) * (len(priorities) * bar + gap) + 140
    svg = [f"<svg role='img' aria-label='% met per week' width='{width}' height='{height + 40}' "
           f"xmlns='http://www.w3.org/2000/svg'>"]  # fmt: skip
    for pct in (0, 50, 100):
        y = 10 + height - pct * height / 100
        svg.append(f"<line x1='{left}' x2='{width - 140}' y1='{y}' y2='{y}' stroke='#ddd'/>"
                   f"<text x='4' y='{y + 4}'>{pct}%</text>")  # fmt: skip
    for i, week in enumerate(weeks):
        x0 = left + i * (len(priorities) * bar + gap)
        for j, priority in enumerate(priorities):
            tally = counts.get((week, priority), Counter())
            decided = tally[MET] + tally[BREACHED]
            if not decided:
                continue
            share = tally[MET] / decided
            h, x = share * height, x0 + j * bar
            svg.append(f"<rect x='{x}' y='{10 + height - h:.1f}' width='{bar - 3}' "
                       f"height='{h:.1f}' fill='{COLOURS[priority]}'><title>{week} {priority}: "
                       f"{tally[MET]} of {decided} met</title></rect>")  # fmt: skip
        svg.append(f"<text x='{x0}' y='{height + 28}'>{week}</text>")
    for j, priority in enumerate(priorities):
        y = 20 + j * 18
        svg.append(f"<rect x='{width - 130}' y='{y - 10}' width='12' height='12' "
                   f"fill='{COLOURS[priority]}'/><text x='{width - 112}' y='{y}'>{priority}"
                   "</text>")  # fmt: skip
    svg.append("</svg>")
    return "".join(svg)


def histogram(requests: list[Clock], now: datetime) -> str:
    """How long answered requests waited: in time (green) or late (red), per bucket."""
    tally: dict[str, Counter[str]] = {label: Counter() for _, label in BUCKETS}
    for clock in requests:
        if clock.response_seconds is None:
            continue
        minutes = clock.response_seconds / 60
        label = next(name for limit, name in BUCKETS if limit is None or minutes < limit)
        tally[label][outcome(clock, now)] += 1
    most = max((sum(c.values()) for c in tally.values()), default=0)
    if not most:
        return "<p>No answered requests in this period.</p>"
    bar, height, left = 56, 140, 30
    width = left + len(BUCKETS) * bar + 10
    svg = [f"<svg role='img' aria-label='time to first response' width='{width}' "
           f"height='{height + 40}' xmlns='http://www.w3.org/2000/svg'>"]  # fmt: skip
    for i, (_, label) in enumerate(BUCKETS):
        x, y = left + i * bar, float(10 + height)
        for kind, colour in ((MET, "#2da44e"), (BREACHED, "#cf222e")):
            n = tally[label][kind]
            h = n * height / most
            if n:
                y -= h
                svg.append(
                    f"<rect x='{x}' y='{y:.1f}' width='{bar - 8}' height='{h:.1f}' "
                    f"fill='{colour}'><title>{escape(label)}: {n} {kind}</title></rect>"
                )
        total = sum(tally[label].values())
        svg.append(f"<text x='{x}' y='{height + 28}'>{escape(label)}</text>")
        if total:
            svg.append(f"<text x='{x}' y='{y - 3:.1f}'>{total}</text>")
    svg.append("</svg>")
    return "".join(svg)


def table(rows: list[Row]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ("", *COLUMNS))
    body = []
    for row in rows:
        if row.group == "repository":
            continue  # "Per repository" has its own section, with its breaches
        cells = (row.requests, row.met, row.breached, row.running, row.closed,
                 percent(row.percent_met), duration(row.median_response_minutes),
                 duration(row.p90_response_minutes))  # fmt: skip
        name = "all" if row.group == "all" else f"{row.group}: {row.name}"
        body.append(f"<tr><td>{escape(name)}</td>"
                    + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")  # fmt: skip
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def breached(requests: list[Clock], now: datetime, tz: ZoneInfo) -> str:
    late = [c for c in requests if outcome(c, now) == BREACHED]
    if not late:
        return "<p>None: every decided request was answered in time.</p>"
    rows = []
    for clock in sorted(late, key=lambda c: c.due_at):
        answered = "not answered"
        if clock.met_at is not None:
            by = escape(clock.responder or "?")
            answered = f"answered {clock.met_at.astimezone(tz):%a %d %b %H:%M} by {by}"
        ref = f"{escape(clock.repo)}#{clock.issue_number}"
        link = f"<a href='{escape(clock.issue_url, quote=True)}'>{ref}</a>"
        rows.append(f"<tr><td>{link} {escape(clock.issue_title)}</td><td>{clock.priority}</td>"
                    f"<td>due {clock.due_at.astimezone(tz):%a %d %b %H:%M}</td>"
                    f"<td>{answered}</td></tr>")  # fmt: skip
    return f"<table>{''.join(rows)}</table>"


def per_repository(requests: list[Clock], now: datetime, repos: list[str]) -> str:
    rows = []
    for repo in repos:
        outcomes = Counter(outcome(c, now) for c in requests if c.repo == repo)
        decided = outcomes[MET] + outcomes[BREACHED]
        share = percent(round(100 * outcomes[MET] / decided, 1) if decided else None)
        rows.append(f"<tr><td>{escape(repo)}</td><td>{sum(outcomes.values())} requests</td>"
                    f"<td>{share} met</td><td>{outcomes[BREACHED]} breached</td></tr>")  # fmt: skip
    return f"<table>{''.join(rows)}</table>"
