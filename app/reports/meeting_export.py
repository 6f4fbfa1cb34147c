"""The status meeting as Markdown (to paste into notes) and as JSON and CSV, whose fields
are documented in docs/meeting-fields.md and kept stable across versions (`version`)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from app.notify.messages import humanize
from app.reports.meeting import TARGET_NAMES, Meeting, Request, counted
from app.reports.report import duration, outcome, percent
from app.sla.clock import Clock
from app.sla.policy import Policy

VERSION = 1
CSV_FIELDS = (
    "period_since",
    "period_until",
    "customer",
    "issue",
    "repo",
    "number",
    "title",
    "url",
    "priority",
    "type",
    "state",
    "who",
    "kind",
    "clock_state",
    "outcome",
    "started_at",
    "due_at",
    "ended_at",
    "met_at",
    "responder",
    "counted_seconds",
    "paused_seconds",
    # Added last: a reader that goes by position keeps its columns.
    "priority_name",
    "type_name",
)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def period(meeting: Meeting) -> dict[str, Any]:
    return {
        "since": _iso(meeting.since),
        "until": _iso(meeting.now),
        "days": meeting.days,
        "timezone": str(meeting.tz),
    }


def clock_fields(clock: Clock, policy: Policy, now: datetime) -> dict[str, Any]:
    return {
        "kind": clock.kind,
        "target": TARGET_NAMES.get(clock.kind, clock.kind),
        "clock_state": clock.state,
        "outcome": outcome(clock, now),
        "started_at": _iso(clock.started_at),
        "due_at": _iso(clock.due_at),
        "ended_at": _iso(clock.ended_at),
        "met_at": _iso(clock.met_at),
        "responder": clock.responder,
        "counted_seconds": counted(clock, policy, now),
        "paused_seconds": clock.paused_seconds,
    }


def request_fields(meeting: Meeting, found: Request) -> dict[str, Any]:
    return {
        "customer": meeting.account.key or None,
        "issue": found.ref,
        "repo": found.repo,
        "number": found.number,
        "title": found.title,
        "url": found.url,
        "priority": found.priority,
        "priority_name": meeting.names.priority(found.priority),
        "type": found.request_type,
        "type_name": meeting.names.type(found.request_type),
        "state": found.state,
        "who": found.who,
        "opened_at": _iso(found.opened_at),
        "closed_at": _iso(found.closed_at),
    }


def as_dict(meeting: Meeting, policy: Policy) -> dict[str, Any]:
    now = meeting.now
    return {
        "version": VERSION,
        "customer": {"key": meeting.account.key or None, "name": meeting.account.name},
        "period": period(meeting),
        "summary": {
            "open": len(meeting.open),
            "opened": len(meeting.opened),
            "answered": len(meeting.answered),
            "resolved": len(meeting.resolved),
            "breached": len(meeting.breached),
            "incidents": len(meeting.incidents),
        },
        "open": [
            {
                "issue": i.request.ref,
                "paused": i.paused,
                "next_due": None
                if i.next_due is None
                else {"kind": i.next_due.kind, "due_at": _iso(i.next_due.due_at)},
            }
            for i in meeting.open
        ],
        "targets": [asdict(row) for row in meeting.targets],
        "weeks": [asdict(week) for week in meeting.weeks],
        "incidents": [
            {
                "issue": i.request.ref,
                "paged_at": _iso(i.paged_at),
                "acked_at": _iso(i.acked_at),
                "acked_by": i.acked_by,
                "resolved_at": _iso(i.resolved_at),
                "postmortem": None
                if i.postmortem is None
                else clock_fields(i.postmortem, policy, now),
            }
            for i in meeting.incidents
        ],
        "breaches": [{"issue": r.ref, **clock_fields(c, policy, now)} for r, c in meeting.breaches],
        "requests": [
            {
                **request_fields(meeting, r),
                "clocks": [clock_fields(c, policy, now) for c in r.clocks],
            }
            for r in meeting.requests
        ],
    }


def as_json(meetings: list[Meeting], policy: Policy) -> str:
    """One customer: its object; several: a list of them."""
    data = [as_dict(m, policy) for m in meetings]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)


def as_csv(meetings: list[Meeting], policy: Policy) -> str:
    """One row per clock of every request, with its request's and the period's fields."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for meeting in meetings:
        for found in meeting.requests:
            for clock in found.clocks:
                writer.writerow(
                    {
                        "period_since": _iso(meeting.since),
                        "period_until": _iso(meeting.now),
                        **request_fields(meeting, found),
                        **clock_fields(clock, policy, meeting.now),
                    }
                )
    return out.getvalue()


def _md_ref(found: Request) -> str:
    text = found.ref.replace("[", "\\[").replace("]", "\\]")
    return f"[{text}]({found.url})" if found.url.startswith(("https://", "http://")) else text


def _md(text: str) -> str:
    """Cell text that cannot break a Markdown table or inject markup."""
    for ch in "\\|*_`[]<>":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def as_markdown(meeting: Meeting) -> str:
    tz, now = meeting.tz, meeting.now

    def when(moment: datetime | None) -> str:
        return "-" if moment is None else f"{moment.astimezone(tz):%a %d %b %H:%M}"

    lines = [
        f"# {_md(meeting.account.name)}: status meeting",
        "",
        f"Since {meeting.since.astimezone(tz):%a %d %b %Y} ({meeting.days} days), as of "
        f"{when(now)} ({tz}).",
        "",
        "## Now: open requests, soonest due first",
        "",
    ]
    if meeting.open:
        lines += [
            "| request | priority | type | age | who is on it | next due | paused |",
            "|---|---|---|---|---|---|---|",
        ]
    for item in meeting.open:
        r, due = item.request, "nothing owed"
        if item.next_due is not None:
            what = TARGET_NAMES.get(item.next_due.kind, item.next_due.kind)
            late = "overdue since " if now >= item.next_due.due_at else "by "
            due = f"{what} {late}{when(item.next_due.due_at)}"
        lines.append(
            f"| {_md_ref(r)} {_md(r.title)} | {meeting.names.priority(r.priority)} | "
            f"{_md(meeting.names.type(r.request_type))} | {humanize(now - r.opened_at)} | "
            f"{_md(r.who or 'nobody yet')} | {due} | "
            f"{'yes' if item.paused else 'no'} |"
        )
    if not meeting.open:
        lines.append("Nothing is open.")
    lines += ["", "## Since the last meeting", ""]
    for name, found in (
        ("Opened", meeting.opened),
        ("Answered", meeting.answered),
        ("Resolved", meeting.resolved),
        ("Breached", meeting.breached),
    ):
        listed = ", ".join(f"{_md_ref(r)} {_md(r.title)}" for r in found)
        lines.append(f"- **{name}** ({len(found)}): {listed or 'none'}")
    lines += ["", "## Incidents (production down)", ""]
    for i in meeting.incidents:
        pm = (
            "none owed"
            if i.postmortem is None
            else (
                f"written {when(i.postmortem.met_at)}"
                if i.postmortem.met_at
                else f"owed by {when(i.postmortem.due_at)}"
            )
        )
        lines.append(
            f"- {_md_ref(i.request)} paged {when(i.paged_at)}, acknowledged "
            f"{when(i.acked_at)} by {_md(i.acked_by or '-')}, resolved "
            f"{when(i.resolved_at)}; post-mortem {pm}"
        )
    if not meeting.incidents:
        lines.append("None.")
    lines += [
        "",
        "## SLA per target and priority",
        "",
        "| target · priority | clocks | met | breached | % met | median | p90 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in meeting.targets:
        lines.append(
            f"| {row.title or row.name} | {row.requests} | {row.met} | {row.breached} | "
            f"{percent(row.percent_met)} | {duration(row.median_response_minutes)} | "
            f"{duration(row.p90_response_minutes)} |"
        )
    lines += ["", "## Trend: first responses met per week", ""]
    lines += [
        f"- {w.label} {meeting.names.priority(w.priority)}: {round(100 * w.met / w.decided)}% "
        f"({w.met} of {w.decided})"
        for w in meeting.weeks
    ] or ["None decided."]
    lines += ["", "## Every breach", ""]
    for r, c in meeting.breaches:
        end = c.met_at or c.ended_at
        lines.append(
            f"- {_md_ref(r)} {TARGET_NAMES.get(c.kind, c.kind)} "
            f"({meeting.names.priority(c.priority)}) due {when(c.due_at)}, "
            + (f"answered or ended {when(end)}" if end else "still owed")
        )
    if not meeting.breaches:
        lines.append("None.")
    return "\n".join(lines) + "\n"
