"""Alert messages: headers, links, escaping, timing text, local times and Block Kit limits."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.notify.messages import (
    AlertContent,
    AlertKind,
    escape,
    format_time,
    humanize,
    render,
)
from app.sla.domain import Priority, RequestType

AMS = ZoneInfo("Europe/Amsterdam")
STARTED = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # Fri 16:30 CET
DUE = STARTED + timedelta(minutes=30)
URL = "https://github.com/acme/portal/issues/12"


def alert(kind: AlertKind = AlertKind.BREACH, **changes: Any) -> AlertContent:
    base = AlertContent(
        kind=kind,
        repo="acme/portal",
        issue_number=12,
        issue_url=URL,
        title="Checkout returns 500",
        opened_by="octocat",
        priority=Priority.PRODUCTION_DOWN,
        request_type=RequestType.PROBLEM,
        started_at=STARTED,
        due_at=DUE,
        tz=AMS,
        now=DUE + timedelta(hours=1, minutes=5),
        responder="alice",
    )
    return dataclasses.replace(base, **changes)


def fields(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """Field label -> value, from the one section that has fields."""
    [section] = [b for b in blocks if "fields" in b]
    pairs = (f["text"].split("\n", 1) for f in section["fields"])
    return {label.strip("*"): value for label, value in pairs}


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        # (the sample is decided an hour after its due time: a late delivery)
        (
            AlertKind.PAGE,
            ":rotating_light: Paging on-call, arrived already breached · Production down",
        ),
        (
            AlertKind.ANNOUNCE,
            ":mega: New urgent request, arrived already breached · Production down",
        ),
        (AlertKind.WARNING, ":hourglass_flowing_sand: First response due soon · Production down"),
        (AlertKind.BREACH, ":red_circle: First-response SLA breached · Production down"),
        (AlertKind.LATE_RESPONSE, ":speech_balloon: First response arrived late · Production down"),
        (AlertKind.RESOLVED, ":white_check_mark: Issue closed · Production down"),
        (AlertKind.POSTMORTEM_DUE, ":memo: Post-mortem overdue · Production down"),
    ],
)
def test_each_kind_has_header_link_fields_and_context(kind: AlertKind, header: str) -> None:
    text, blocks = render(alert(kind))

    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": header, "emoji": True}
    assert blocks[1]["text"]["text"] == f"*<{URL}|acme/portal#12 Checkout returns 500>*"
    assert "acme/portal#12 Checkout returns 500" in text
    assert text.startswith(header.split(" ·")[0])
    assert "sla-bot · as of Fri 27 Nov 2026 18:05 CET" in blocks[3]["elements"][0]["text"]


@pytest.mark.parametrize("kind", [AlertKind.PAGE, AlertKind.ANNOUNCE])
def test_a_page_on_time_says_when_it_is_due_and_a_late_one_says_it_is_late(
    kind: AlertKind,
) -> None:
    on_time, blocks = render(alert(kind, now=STARTED + timedelta(minutes=1)))
    late, _ = render(alert(kind, now=DUE + timedelta(hours=10)))

    assert "already breached" not in on_time and "due in 29m" in on_time
    assert fields(blocks)["Due in"] == "29m"
    assert "arrived already breached" in late and "late by 10h" in late


def test_user_text_is_escaped_and_cannot_mention() -> None:
    text, blocks = render(alert(title="<!channel> a & b <https://evil|click>", opened_by="x<y>"))

    link = blocks[1]["text"]["text"]
    assert link == (
        f"*<{URL}|acme/portal#12 &lt;!channel&gt; a &amp; b &lt;https://evil|click&gt;>*"
    )
    assert "&lt;!channel&gt; a &amp; b" in text
    assert "<!channel>" not in text
    assert fields(blocks)["Opened by"] == "x&lt;y&gt;"


def test_escape_handles_ampersand_first() -> None:
    assert escape("&lt; <>&") == "&amp;lt; &lt;&gt;&amp;"


def test_breach_says_how_late() -> None:
    text, blocks = render(alert(AlertKind.BREACH))

    got = fields(blocks)
    assert got["Late by"] == "1h 5m"
    assert got["Due"] == "Fri 27 Nov 2026 17:00 CET"
    assert got["Clock started"] == "Fri 27 Nov 2026 16:30 CET"
    assert got["Priority"] == "Production down"
    assert got["Type"] == "Problem/Troubleshooting"
    assert got["Opened by"] == "octocat"
    assert "late by 1h 5m" in text


@pytest.mark.parametrize(
    ("kind", "now", "label", "value"),
    [
        (AlertKind.PAGE, STARTED, "Due in", "30m"),
        (AlertKind.WARNING, DUE - timedelta(minutes=7, seconds=30), "Due in", "7m"),
        (AlertKind.LATE_RESPONSE, DUE + timedelta(days=1, hours=2), "Late by", "1d 2h"),
        (AlertKind.RESOLVED, STARTED + timedelta(hours=3), "Open for", "3h"),
        (AlertKind.POSTMORTEM_DUE, DUE + timedelta(minutes=45), "Overdue by", "45m"),
    ],
)
def test_timing_field_per_kind(kind: AlertKind, now: datetime, label: str, value: str) -> None:
    text, blocks = render(alert(kind, now=now))

    assert fields(blocks)[label] == value
    assert f"{label.lower()} {value}" in text


def test_thread_replies_name_the_responder() -> None:
    _, late = render(alert(AlertKind.LATE_RESPONSE))
    _, closed = render(alert(AlertKind.RESOLVED, responder=None))

    assert fields(late)["Responded by"] == "alice"
    assert "Closed by" not in fields(closed)
    assert AlertKind.LATE_RESPONSE.thread_parent is AlertKind.BREACH
    assert AlertKind.RESOLVED.thread_parent is AlertKind.PAGE
    assert AlertKind.BREACH.thread_parent is None


def test_no_due_time_means_no_due_fields() -> None:
    text, blocks = render(alert(AlertKind.ANNOUNCE, due_at=None))

    assert {"Due", "Due in", "Late by"}.isdisjoint(fields(blocks))
    assert text.endswith("(Production down)")


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=59), "under 1m"),
        (timedelta(minutes=1), "1m"),
        (timedelta(minutes=59, seconds=59), "59m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=1, minutes=5), "1h 5m"),
        (timedelta(days=1), "1d"),
        (timedelta(days=2, hours=3, minutes=59), "2d 3h"),
        (-timedelta(minutes=90), "-1h 30m"),
    ],
)
def test_humanize(delta: timedelta, expected: str) -> None:
    assert humanize(delta) == expected


def test_local_times_follow_dst_change() -> None:
    # Europe/Amsterdam leaves summer time on Sunday 25 October 2026 at 03:00 CEST.
    started = datetime(2026, 10, 24, 14, 30, tzinfo=UTC)
    due = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)

    _, blocks = render(alert(started_at=started, due_at=due, now=due))

    assert fields(blocks)["Clock started"] == "Sat 24 Oct 2026 16:30 CEST"
    assert fields(blocks)["Due"] == "Mon 26 Oct 2026 10:00 CET"
    assert format_time(due, ZoneInfo("America/New_York")) == "Mon 26 Oct 2026 05:00 EDT"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        alert(now=datetime(2026, 11, 27, 18, 0))


def assert_within_block_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks[1]["text"]["text"]) < 3000
    assert len(blocks[2]["fields"]) <= 10
    assert all(len(f["text"]) <= 2000 for f in blocks[2]["fields"])
    assert len(text) < 1000


def test_huge_title_and_names_stay_within_block_limits() -> None:
    text, blocks = render(alert(title="&" * 10_000, opened_by="o" * 5000, responder="r" * 5000))

    assert_within_block_limits(text, blocks)
    assert blocks[1]["text"]["text"].endswith("…>*")


@given(title=st.text(max_size=400))
def test_any_title_is_escaped_and_fits(title: str) -> None:
    text, blocks = render(alert(title=title))

    assert_within_block_limits(text, blocks)
    link = blocks[1]["text"]["text"]
    label = link.removeprefix(f"*<{URL}|").removesuffix(">*")
    assert "<" not in label and ">" not in label
    assert "<" not in text and ">" not in text
