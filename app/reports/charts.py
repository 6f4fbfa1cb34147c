"""The meeting page's two charts as inline SVG, readable printed: every bar drawn (0%
included, as a sliver over its empty track), every count written as text, a legend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from html import escape

from app.reports.meeting import Week as WeekBar
from app.reports.names import BUILT_IN, Names
from app.reports.report import BREACHED, MET, outcome
from app.sla.clock import Clock

# Dark on light, apart in grey print; green is kept for "in time", not for a priority.
COLOURS = {"production-down": "#8e1b1b", "urgent": "#b35900", "normal": "#2f5fa7"}
# A team's own priorities take these in their order (most urgent first), as the built-in do.
PALETTE = ("#8e1b1b", "#b35900", "#2f5fa7", "#6a3d9a", "#4d4d4d", "#8c6d31")


def colour(priority: str, order: Sequence[str]) -> str:
    """A priority's bar colour: the built-in one's, else by its place in the policy's order."""
    if priority in COLOURS:
        return COLOURS[priority]
    at = order.index(priority) if priority in order else len(PALETTE) - 1
    return PALETTE[at % len(PALETTE)]


IN_TIME, LATE = "#1a7f37", "#cf222e"
TRACK = "#eef0f3"
# Time to first response, in minutes on the clock's calendar: the histogram's buckets.
BUCKETS = (
    (15, "< 15m"),
    (30, "15-30m"),
    (60, "30m-1h"),
    (120, "1-2h"),
    (240, "2-4h"),
    (480, "4-8h"),
    (1440, "8h-1d"),
    (None, "> 1d"),
)
SLIVER = 3  # px: the height a 0% bar is drawn with, so that it shows
FONT = "font-family='Helvetica,Arial,sans-serif' font-size='13'"


def _svg(width: int, height: int, label: str) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(label)}' "
        f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' {FONT}>"
        f"<title>{escape(label)}</title>"
    )


def _legend(items: Sequence[tuple[str, str]], x: int, y: int) -> str:
    parts = []
    for name, colour in items:
        parts.append(
            f"<rect x='{x}' y='{y - 11}' width='14' height='14' fill='{colour}'/>"
            f"<text x='{x + 20}' y='{y}'>{escape(name)}</text>"
        )
        x += 34 + 8 * len(name)
    return "".join(parts)


def weekly_chart(weeks: Sequence[WeekBar], names: Names = BUILT_IN) -> str:
    """Grouped bars: per ISO week, % of first responses met per priority, with the share
    above each bar and `met of decided` under it."""
    if not weeks:
        return "<p>No decided first responses in this period.</p>"
    order = names.priority_order(bar.priority for bar in weeks)
    groups: dict[str, list[WeekBar]] = {}
    for bar in weeks:
        groups.setdefault(bar.label, []).append(bar)
    bar_w, gap, group_gap, left, top, plot = 56, 10, 40, 52, 56, 220
    width = left + sum(len(g) * (bar_w + gap) - gap + group_gap for g in groups.values()) + 20
    width = max(width, 520)
    height = top + plot + 64
    base = top + plot
    svg = [_svg(width, height, "First responses met per week and priority")]
    present = [p for p in order if any(b.priority == p for b in weeks)]
    svg.append(_legend([(names.priority(p), colour(p, order)) for p in present], left, 20))
    for pct in (0, 25, 50, 75, 100):
        y = base - pct * plot / 100
        svg.append(
            f"<line x1='{left - 6}' x2='{width - 10}' y1='{y:g}' y2='{y:g}' "
            f"stroke='#d0d7de'/><text x='{left - 10}' y='{y + 4:g}' "
            f"text-anchor='end'>{pct}%</text>"
        )
    x = left + group_gap // 2
    for label, bars in groups.items():
        start = x
        for bar in sorted(
            bars, key=lambda b: order.index(b.priority) if b.priority in order else 9
        ):
            shown = (names.priority(bar.priority), colour(bar.priority, order))
            svg.append(_bar(bar, x, bar_w, base, plot, shown))
            x += bar_w + gap
        middle = (start + x - gap) / 2
        svg.append(
            f"<text x='{middle:g}' y='{base + 44}' text-anchor='middle' "
            f"font-weight='bold'>{escape(label)}</text>"
        )
        x += group_gap - gap
    svg.append("</svg>")
    return "".join(svg)


def _bar(bar: WeekBar, x: int, width: int, base: int, plot: int, shown: tuple[str, str]) -> str:
    name, colour = shown
    share = bar.met / bar.decided
    height = max(share * plot, SLIVER)
    percent = round(100 * share)
    middle = x + width / 2
    return (
        f"<rect x='{x}' y='{base - plot}' width='{width}' height='{plot}' fill='{TRACK}'/>"
        f"<rect class='bar' data-week='{escape(bar.label)}' data-priority='{escape(bar.priority)}' "
        f"data-percent='{percent}' x='{x}' y='{base - height:.1f}' width='{width}' "
        f"height='{height:.1f}' fill='{colour}'><title>{escape(bar.label)} "
        f"{escape(name)}: {bar.met} of {bar.decided} met</title></rect>"
        f"<text x='{middle:g}' y='{base - height - 6:.1f}' text-anchor='middle' "
        f"font-weight='bold'>{percent}%</text>"
        f"<text x='{middle:g}' y='{base + 20}' text-anchor='middle'>{bar.met} of "
        f"{bar.decided}</text>"
    )


def histogram(first_responses: Sequence[Clock], now: datetime) -> str:
    """How long answered requests waited for their first response: in time or late, per
    bucket, each count written on the chart."""
    tally: dict[str, Counter[str]] = {label: Counter() for _, label in BUCKETS}
    for clock in first_responses:
        if clock.response_seconds is None:
            continue
        minutes = clock.response_seconds / 60
        label = next(name for limit, name in BUCKETS if limit is None or minutes < limit)
        tally[label][outcome(clock, now)] += 1
    most = max((c[MET] + c[BREACHED] for c in tally.values()), default=0)
    if not most:
        return "<p>No answered first responses in this period.</p>"
    bar_w, step, left, top, plot = 64, 88, 20, 60, 180
    width = left + len(BUCKETS) * step + 10
    base = top + plot
    svg = [_svg(width, base + 76, "Time to first response, in time and late")]
    svg.append(_legend([("answered in time", IN_TIME), ("answered late", LATE)], left, 20))
    svg.append(f"<line x1='{left}' x2='{width - 10}' y1='{base}' y2='{base}' stroke='#8c959f'/>")
    for i, (_, label) in enumerate(BUCKETS):
        x, y = left + i * step, float(base)
        counts = tally[label]
        for kind, colour in ((MET, IN_TIME), (BREACHED, LATE)):
            if counts[kind]:
                h = counts[kind] * plot / most
                y -= h
                svg.append(
                    f"<rect x='{x}' y='{y:.1f}' width='{bar_w}' height='{h:.1f}' fill='{colour}'/>"
                )
        middle = x + bar_w / 2
        total = counts[MET] + counts[BREACHED]
        if total:
            svg.append(
                f"<text x='{middle:g}' y='{y - 6:.1f}' text-anchor='middle' "
                f"font-weight='bold'>{total}</text>"
            )
        svg.append(
            f"<text x='{middle:g}' y='{base + 20}' text-anchor='middle' "
            f"font-weight='bold'>{escape(label)}</text>"
        )
        lines = (f"{counts[MET]} in time", f"{counts[BREACHED]} late") if total else ("none",)
        for n, line in enumerate(lines):
            svg.append(
                f"<text x='{middle:g}' y='{base + 38 + 15 * n}' text-anchor='middle' "
                f"font-size='12'>{line}</text>"
            )
    svg.append("</svg>")
    return "".join(svg)
