"""The status-meeting page as one self-contained HTML file (`report --format html`, /board).

No CDN, no script, no external asset: inline CSS and inline SVG. It opens with what is open
now, then what happened since the last meeting, the incidents, the SLA per target and
priority, the trend and every breach; readable on screen, printed and as an attachment.
Everything that comes from GitHub or the policy is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from app.notify.messages import humanize
from app.reports import charts
from app.reports.meeting import TARGET_NAMES, Meeting, Request
from app.reports.names import BUILT_IN
from app.reports.report import FOOTNOTE, duration, percent
from app.sla.clock import Clock
from app.sla.outcome import Verdict, verdict

STYLE = """
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1300px;padding:0 1.5em;color:#1f2328;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:2em;border-bottom:2px solid
#d0d7de;padding-bottom:.2em}h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%}td,th{padding:.35em .6em;border-bottom:1px solid
#d0d7de;text-align:left;vertical-align:top}th{background:#f6f8fa}td.n,th.n{text-align:right}
a{color:#0550ae}.note{color:#57606a;font-size:.92em}.late{color:#a40e26;font-weight:600}
.paused{color:#6e4c00}.counts span{display:inline-block;margin-right:1.4em;font-weight:600}
ul{margin:.2em 0;padding-left:1.3em}nav ul{columns:3}svg{max-width:100%;height:auto}
svg text{fill:#1f2328}section.customer{margin-bottom:3em}
@media print{body{margin:0;max-width:none}section.customer{break-before:page}
h2,h3{break-after:avoid}tr,svg{break-inside:avoid}a{color:#1f2328}}
"""


def document(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n"
        f"<p class='note'>{escape(FOOTNOTE)}.</p></body></html>\n"
    )


def as_html(meeting: Meeting) -> str:
    """One customer's page."""
    return document(_title(meeting), section(meeting, anchor=""))


def as_html_all(meetings: Sequence[Meeting], title: str) -> str:
    """One section per customer, with an index linking to each."""
    index = "".join(
        f"<li><a href='#{_id(m)}'>{escape(m.account.name)}</a>: {len(m.open)} open, "
        f"{len(m.breached)} breached</li>"
        for m in meetings
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<nav><h2>Customers</h2><ul>{index or '<li>none</li>'}</ul></nav>",
    ]
    parts += [
        f"<section class='customer' id='{_id(m)}'>{section(m, _id(m))}</section>" for m in meetings
    ]
    return document(title, "\n".join(parts))


def _id(meeting: Meeting) -> str:
    key = meeting.account.key or "no-customer"
    return "c-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in key)


def _title(meeting: Meeting) -> str:
    return f"{meeting.account.name}: status meeting"


def section(meeting: Meeting, anchor: str) -> str:
    tz = meeting.tz
    scope = ", ".join(
        [*meeting.account.repositories, *(f"label “{name}”" for name in meeting.account.labels)]
    )
    head = [
        f"<h1>{escape(_title(meeting))}</h1>",
        f"<p class='note'>{escape(scope) + '. ' if scope else ''}Since the last meeting: "
        f"{_day(meeting.since, meeting)} ({meeting.days} days). As of "
        f"{_when(meeting.now, meeting)}; times in {escape(str(tz))}.</p>",
        "<p class='counts'>"
        + "".join(
            f"<span>{n} {escape(what)}</span>"
            for what, n in (
                ("open now", len(meeting.open)),
                ("opened", len(meeting.opened)),
                ("answered", len(meeting.answered)),
                ("resolved", len(meeting.resolved)),
                ("breached", len(meeting.breached)),
                ("incidents", len(meeting.incidents)),
            )
        )
        + "</p>",
    ]
    return "\n".join(
        [
            *head,
            "<h2>Now: open requests, soonest due first</h2>",
            now_table(meeting),
            "<h2>Since the last meeting</h2>",
            since(meeting),
            "<h2>Incidents (production down)</h2>",
            incidents(meeting),
            "<h2>SLA per target and priority</h2>",
            targets(meeting),
            "<h2>Trend: first responses met per week</h2>",
            charts.weekly_chart(meeting.weeks, meeting.names),
            "<h2>Time to first response</h2>",
            charts.histogram(meeting.first_responses, meeting.now),
            "<h2>Every breach</h2>",
            breaches(meeting),
        ]
    )


def _when(moment: datetime | None, meeting: Meeting) -> str:
    if moment is None:
        return "-"
    return escape(f"{moment.astimezone(meeting.tz):%a %d %b %H:%M}")


def _day(moment: datetime, meeting: Meeting) -> str:
    return escape(f"{moment.astimezone(meeting.tz):%a %d %b %Y}")


def link(found: Request) -> str:
    ref = escape(found.ref)
    if not found.url.startswith(("https://", "http://")):
        return ref
    return f"<a href='{escape(found.url, quote=True)}'>{ref}</a>"


def priority_name(name: str) -> str:
    """A priority key's built-in name (a meeting's own are `meeting.names`)."""
    return BUILT_IN.priority(name)


def type_name(name: str) -> str:
    return BUILT_IN.type(name)


def _table(head: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{cells}</tr>{''.join(rows)}</table>"


def now_table(meeting: Meeting) -> str:
    rows = []
    for item in meeting.open:
        found = item.request
        due = "nothing owed"
        if item.next_due is not None:
            clock = item.next_due
            what = escape(TARGET_NAMES.get(clock.kind, clock.kind))
            late = meeting.now >= clock.due_at
            left = humanize(abs(clock.due_at - meeting.now))
            due = (
                f"<span class='late'>{what} overdue since {_when(clock.due_at, meeting)} "
                f"({left})</span>"
                if late
                else f"{what} by {_when(clock.due_at, meeting)} (in {left})"
            )
        paused = "<span class='paused'>yes, waiting on the customer</span>" if item.paused else "no"
        rows.append(
            f"<tr><td>{link(found)} {escape(found.title)}</td>"
            f"<td>{escape(meeting.names.priority(found.priority))}</td>"
            f"<td>{escape(meeting.names.type(found.request_type))}</td>"
            f"<td>{escape(humanize(meeting.now - found.opened_at))}</td>"
            f"<td>{escape(found.who or 'nobody yet')}</td><td>{due}</td><td>{paused}</td></tr>"
        )
    head = ("Request", "Priority", "Type", "Age", "Who is on it", "Next due", "Paused")
    return _table(head, rows, "Nothing is open.")


def since(meeting: Meeting) -> str:
    def items(found: list[Request], detail: dict[int, str]) -> str:
        if not found:
            return "<p>None.</p>"
        return (
            "<ul>"
            + "".join(
                f"<li>{link(r)} {escape(r.title)} <span class='note'>"
                f"({escape(meeting.names.priority(r.priority))}{detail.get(id(r), '')})</span></li>"
                for r in found
            )
            + "</ul>"
        )

    opened = {id(r): f", opened {_when(r.opened_at, meeting)}" for r in meeting.opened}
    answered = {id(r): _answer(r, meeting) for r in meeting.answered}
    resolved = {id(r): f", closed {_when(r.closed_at, meeting)}" for r in meeting.resolved}
    kinds: dict[int, list[str]] = {}
    for found, clock in meeting.breaches:
        kinds.setdefault(id(found), []).append(escape(TARGET_NAMES.get(clock.kind, clock.kind)))
    breached = {key: ": " + ", ".join(dict.fromkeys(names)) for key, names in kinds.items()}
    return "".join(
        f"<h3>{escape(name)} ({len(found)})</h3>{items(found, detail)}"
        for name, found, detail in (
            ("Opened", meeting.opened, opened),
            ("Answered", meeting.answered, answered),
            ("Resolved", meeting.resolved, resolved),
            ("Breached", meeting.breached, breached),
        )
    )


def _answer(found: Request, meeting: Meeting) -> str:
    met = [c for c in found.clocks if c.kind == "response" and c.met_at is not None]
    if not met:
        return ""
    last = met[-1]
    took = f" after {duration(last.response_seconds / 60)}" if last.response_seconds else ""
    return f", answered {_when(last.met_at, meeting)} by {escape(last.responder or '?')}{took}"


def incidents(meeting: Meeting) -> str:
    rows = []
    for incident in meeting.incidents:
        acked = "not acknowledged"
        if incident.acked_at is not None:
            acked = f"{_when(incident.acked_at, meeting)} by {escape(incident.acked_by or '?')}"
        resolved = _when(incident.resolved_at, meeting) if incident.resolved_at else "ongoing"
        rows.append(
            f"<tr><td>{link(incident.request)} {escape(incident.request.title)}</td>"
            f"<td>{_when(incident.paged_at, meeting)}</td><td>{acked}</td><td>{resolved}</td>"
            f"<td>{_postmortem(incident.postmortem, incident.request, meeting)}</td></tr>"
        )
    head = ("Request", "Paged", "Acknowledged", "Resolved", "Post-mortem")
    return _table(head, rows, "No incidents in this period.")


def _postmortem(clock: Clock | None, found: Request, meeting: Meeting) -> str:
    if clock is None:
        return "owed once resolved" if found.state == "open" else "none owed"
    if clock.met_at is not None:
        where = link(found)
        url = (clock.ended_by or "").removeprefix("post-mortem ")
        if url.startswith(("https://", "http://")):  # the link a responder's comment gave
            where = f"<a href='{escape(url, quote=True)}'>the post-mortem</a>, on {where}"
        return (
            f"written {_when(clock.met_at, meeting)} by {escape(clock.responder or '?')} ({where})"
        )
    if verdict(clock, meeting.now) is Verdict.BREACHED:
        return f"<span class='late'>overdue since {_when(clock.due_at, meeting)}</span>"
    if clock.live:
        return f"owed by {_when(clock.due_at, meeting)}"
    return "none owed"


def targets(meeting: Meeting) -> str:
    rows = []
    for row in meeting.targets:
        decided = row.met + row.breached
        counts = f"{row.met} of {decided} met" if decided else "none decided"
        extra = ", ".join(
            f"{n} {what}"
            for what, n in (
                ("breached", row.breached),
                ("running", row.running),
                ("closed early", row.closed),
            )
            if n
        )
        style = " style='font-weight:600'" if row.group == "all" else ""
        rows.append(
            f"<tr{style}><td>{escape(row.title or row.name)}</td><td class='n'>{row.requests}</td>"
            f"<td>{escape(counts)}{', ' + escape(extra) if extra else ''}</td>"
            f"<td class='n'>{percent(row.percent_met)}</td>"
            f"<td class='n'>{duration(row.median_response_minutes)}</td>"
            f"<td class='n'>{duration(row.p90_response_minutes)}</td></tr>"
        )
    head = ("Target · priority", "Clocks", "Outcome", "% met", "Median", "p90")
    return _table(head, rows, "No clocks started in this period.")


def breaches(meeting: Meeting) -> str:
    rows = []
    for found, clock in meeting.breaches:
        if clock.met_at is not None:
            answered = (
                f"answered {_when(clock.met_at, meeting)} by {escape(clock.responder or '?')}"
            )
            end = clock.met_at
        elif clock.ended_at is not None:
            answered = f"ended {_when(clock.ended_at, meeting)} ({escape(clock.ended_by or '')})"
            end = clock.ended_at
        else:
            answered, end = "<span class='late'>still owed</span>", meeting.now
        late = humanize(max(end - clock.due_at, timedelta(0)))
        rows.append(
            f"<tr><td>{link(found)} {escape(found.title)}</td>"
            f"<td>{escape(TARGET_NAMES.get(clock.kind, clock.kind))}</td>"
            f"<td>{escape(meeting.names.priority(clock.priority))}</td>"
            f"<td>{_when(clock.due_at, meeting)}</td><td>{answered}</td>"
            f"<td class='n'>{escape(late)}</td></tr>"
        )
    head = ("Request", "Target", "Priority", "Due", "Answered or ended", "Late by")
    return _table(head, rows, "None: every target in this period was met or is still running.")
