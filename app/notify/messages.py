"""Slack Block Kit messages for SLA alerts: pure builders of text and blocks, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from app.notify.markdown import defang, one_line
from app.sla.clock import ClockKind
from app.sla.domain import Priority, RequestType

# Block Kit limits: https://docs.slack.dev/reference/block-kit/blocks
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
# GitHub allows 256-char titles; an alert read at 3 a.m. needs far less.
TITLE_LIMIT = 200
FALLBACK_TITLE_LIMIT = 100
LOGIN_LIMIT = 100

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AlertKind(StrEnum):
    """What an alert tells the team; each kind has one emoji, headline and hint."""

    PAGE = "page"
    ANNOUNCE = "announce"
    WARNING = "warning"
    BREACH = "breach"
    LATE_RESPONSE = "late-response"
    RESOLVED = "resolved"
    POSTMORTEM_DUE = "postmortem-due"
    NEXT_RESPONSE_BREACH = "next-response-breach"
    UPDATE_OVERDUE = "update-overdue"
    RESOLUTION_BREACH = "resolution-breach"

    @property
    def thread_parent(self) -> AlertKind | None:
        """The kind whose message this one replies to in a thread, if any."""
        return _THREAD_PARENT.get(self)


_THREAD_PARENT = {AlertKind.LATE_RESPONSE: AlertKind.BREACH, AlertKind.RESOLVED: AlertKind.PAGE}

_EMOJI = {
    AlertKind.PAGE: ":rotating_light:",
    AlertKind.ANNOUNCE: ":mega:",
    AlertKind.WARNING: ":hourglass_flowing_sand:",
    AlertKind.BREACH: ":red_circle:",
    AlertKind.LATE_RESPONSE: ":speech_balloon:",
    AlertKind.RESOLVED: ":white_check_mark:",
    AlertKind.POSTMORTEM_DUE: ":memo:",
    AlertKind.NEXT_RESPONSE_BREACH: ":red_circle:",
    AlertKind.UPDATE_OVERDUE: ":loudspeaker:",
    AlertKind.RESOLUTION_BREACH: ":red_circle:",
}
_HEADLINE = {
    AlertKind.PAGE: "Paging on-call",
    AlertKind.ANNOUNCE: "New urgent request",
    AlertKind.WARNING: "First response due soon",
    AlertKind.BREACH: "First-response SLA breached",
    AlertKind.LATE_RESPONSE: "First response arrived late",
    AlertKind.RESOLVED: "Issue closed",
    AlertKind.POSTMORTEM_DUE: "Post-mortem overdue",
    AlertKind.NEXT_RESPONSE_BREACH: "Next-response SLA breached: the customer is waiting",
    AlertKind.UPDATE_OVERDUE: "Incident update overdue",
    AlertKind.RESOLUTION_BREACH: "Resolution SLA breached",
}
_STARTED = {
    ClockKind.NEXT_RESPONSE: "Customer commented",
    ClockKind.UPDATE: "Last responder comment",
    ClockKind.POSTMORTEM: "Issue closed",
}
_WARNING = {
    ClockKind.RESPONSE: "First response due soon",
    ClockKind.NEXT_RESPONSE: "Next response due soon",
    ClockKind.UPDATE: "Incident update due soon",
    ClockKind.RESOLUTION: "Resolution due soon",
    ClockKind.POSTMORTEM: "Post-mortem due soon",
}
_HINT = {
    AlertKind.PAGE: "Respond on the GitHub issue to stop the clock.",
    AlertKind.ANNOUNCE: "Respond on the GitHub issue to stop the clock.",
    AlertKind.WARNING: "Respond on the GitHub issue to stop the clock.",
    AlertKind.BREACH: "Respond on the GitHub issue; the response is posted in this thread.",
    AlertKind.LATE_RESPONSE: "The clock has stopped.",
    AlertKind.RESOLVED: "Link the post-mortem on the issue.",
    AlertKind.POSTMORTEM_DUE: "Link the post-mortem on the issue.",
    AlertKind.NEXT_RESPONSE_BREACH: "Answer the customer's comment on the GitHub issue.",
    AlertKind.UPDATE_OVERDUE: "Post an update for the customer on the GitHub issue.",
    AlertKind.RESOLUTION_BREACH: "Resolve and close the GitHub issue.",
}


@dataclass(frozen=True)
class AlertContent:
    """Everything an alert shows; all datetimes are aware.

    `started_at` is when the clock started (for POSTMORTEM_DUE: when the issue closed);
    `now` is when the alert was decided (for LATE_RESPONSE: the response time; for
    RESOLVED: the close time); `responder` is who responded or closed.
    """

    kind: AlertKind
    repo: str
    issue_number: int
    issue_url: str
    title: str
    opened_by: str
    priority: Priority
    request_type: RequestType
    started_at: datetime
    due_at: datetime | None
    tz: ZoneInfo
    now: datetime
    responder: str | None = None
    clock: ClockKind = ClockKind.RESPONSE  # what the clock measures (a warning names it)
    note: str | None = None  # a caveat shown under the alert (the policy was not read)
    # The policy's display names (`Policy.name_of`, `type_name`); the built-in ones otherwise.
    priority_name: str | None = None
    type_name: str | None = None
    pages: bool | None = None  # the priority pages (its effects go first); None: production down

    @property
    def urgent(self) -> bool:
        return self.priority == Priority.PRODUCTION_DOWN if self.pages is None else self.pages

    @property
    def priority_title(self) -> str:
        return self.priority_name or self.priority.title

    @property
    def type_title(self) -> str:
        return self.type_name or self.request_type.title

    def __post_init__(self) -> None:
        for name in ("started_at", "due_at", "now"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"AlertContent.{name} must be timezone-aware, got {value!r}")

    @property
    def ref(self) -> str:
        """The issue reference, e.g. `owner/name#12` (a call's, before its issue is opened:
        `owner/name (issue being opened)`)."""
        if self.issue_number < 0:
            return f"{self.repo} (issue being opened)"
        return f"{self.repo}#{self.issue_number}"


def escape(text: str) -> str:
    """Escape the three characters Slack reserves in mrkdwn (docs.slack.dev "Formatting")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(text: str, limit: int = TITLE_LIMIT) -> str:
    """Text from people (a title, an answer) for Slack mrkdwn: one printable line, clipped,
    with Slack's control characters escaped (`<!channel>` and `<@U1>` notify nobody)."""
    return escape(one_line(text, limit))


def slack_name(name: str) -> str:
    """A person's name (a GitHub login, a Slack or PagerDuty display name) for Slack mrkdwn:
    as `slack_text`, and a URL in it made unlinkable (`[x](http://evil)` links nowhere)."""
    return slack_text(defang(name), LOGIN_LIMIT)


def clip(text: str, limit: int) -> str:
    """Shorten text to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def humanize(delta: timedelta) -> str:
    """A duration for people: `45m`, `1h 5m`, `2d 3h`, `under 1m`; negative gets a `-`."""
    if delta < timedelta(0):
        return "-" + humanize(-delta)
    minutes = delta // timedelta(minutes=1)
    if minutes == 0:
        return "under 1m"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        parts = [f"{days}d", f"{hours}h" if hours else ""]
    else:
        parts = [f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p)


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    """Local wall time with zone abbreviation, e.g. `Fri 27 Nov 2026 16:30 CET`.

    Names are spelled out here rather than via strftime, which follows the process locale.
    """
    local = moment.astimezone(tz)
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"{local:%H:%M} {local.tzname()}"
    )


def render(alert: AlertContent) -> tuple[str, list[dict[str, Any]]]:
    """The plain-text fallback (used in notifications) and the Block Kit blocks."""
    headline = f"{_EMOJI[alert.kind]} {_headline(alert)} · {alert.priority_title}"
    header = clip(headline, HEADER_LIMIT)
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", FIELD_LIMIT)}
        for label, value in _fields(alert)
    ]
    context = f"{_HINT[alert.kind]} · sla-bot · as of {format_time(alert.now, alert.tz)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _link(alert)}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(context, FIELD_LIMIT)}]},
    ]
    if alert.note:
        caveat = clip(f":warning: {escape(alert.note)}", FIELD_LIMIT)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": caveat}]})
    return _fallback(alert), blocks


def _link(alert: AlertContent) -> str:
    # Inside <url|label> a "|" in the URL would end it early; GitHub URLs have none, but be sure.
    url = escape(alert.issue_url).replace("|", "%7C")
    label = f"{escape(alert.ref)} {slack_text(alert.title)}"
    return clip(f"*<{url}|{label}>*", SECTION_LIMIT - 1)


def _fallback(alert: AlertContent) -> str:
    timing = _timing(alert)
    extra = f", {timing[0].lower()} {timing[1]}" if timing else ""
    title = slack_text(alert.title, FALLBACK_TITLE_LIMIT)
    return (
        f"{_EMOJI[alert.kind]} {escape(_headline(alert))}: {escape(alert.ref)} {title} "
        f"({alert.priority_title}{extra})"
    )


def _arrived_late(alert: AlertContent) -> bool:
    """A page or announcement decided after its due time (a delivery processed late)."""
    starts = alert.kind in (AlertKind.PAGE, AlertKind.ANNOUNCE)
    return starts and alert.due_at is not None and alert.now >= alert.due_at


def _headline(alert: AlertContent) -> str:
    if alert.kind is AlertKind.WARNING:
        return _WARNING[alert.clock]
    headline = _HEADLINE[alert.kind]
    return f"{headline}, arrived already breached" if _arrived_late(alert) else headline


def _timing(alert: AlertContent) -> tuple[str, str] | None:
    """The one duration that matters most for this kind, as (label, value)."""
    if alert.kind is AlertKind.RESOLVED:
        return "Open for", humanize(alert.now - alert.started_at)
    if alert.due_at is None:
        return None
    if alert.now < alert.due_at:
        return "Due in", humanize(alert.due_at - alert.now)
    late = humanize(alert.now - alert.due_at)
    return ("Overdue by" if alert.kind is AlertKind.POSTMORTEM_DUE else "Late by"), late


def _fields(alert: AlertContent) -> list[tuple[str, str]]:
    when = format_time(alert.now, alert.tz)
    who = slack_name(alert.responder or "unknown")
    timing = _timing(alert)
    tail = [timing] if timing else []
    if alert.kind is AlertKind.LATE_RESPONSE:
        return [("Responded by", who), ("Responded at", when), *tail]
    if alert.kind is AlertKind.RESOLVED:
        closer = [("Closed by", who)] if alert.responder else []
        return [*closer, ("Closed at", when), *tail]
    started = _STARTED.get(alert.clock, "Clock started")
    fields = [
        ("Priority", alert.priority_title),
        ("Type", alert.type_title),
        ("Opened by", slack_name(alert.opened_by)),
        (started, format_time(alert.started_at, alert.tz)),
    ]
    if alert.due_at is not None:
        fields.append(("Due", format_time(alert.due_at, alert.tz)))
    return fields + tail
