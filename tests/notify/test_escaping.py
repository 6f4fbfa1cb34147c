"""Escape per destination (issue 25): a hostile name or title notifies nobody in Slack, links
and mentions nothing on GitHub, and sends no escape sequence to the operator's terminal."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli.main import main
from app.notify.markdown import block, code, defang, printable
from app.notify.messages import AlertContent, AlertKind, render, slack_name, slack_text
from app.sla.domain import Priority, RequestType
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import FakePagerDuty
from tests.factories import opened, opened_problem, pagerduty_signature
from tests.harness import Harness, mock_writes

EVIL = "Dänä <!channel> [x](http://evil) @acme/everyone"
NOW = datetime(2026, 11, 29, 2, 10, tzinfo=UTC)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every string in the blocks (what Slack renders)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(blocks)
    return found


@pytest.mark.parametrize("kind", [AlertKind.PAGE, AlertKind.LATE_RESPONSE, AlertKind.RESOLVED])
def test_a_hostile_name_and_title_notify_and_link_nobody_in_slack(kind: AlertKind) -> None:
    alert = AlertContent(
        kind=kind,
        repo="acme/support",
        issue_number=7,
        issue_url="https://github.com/acme/support/issues/7",
        title=f"{EVIL} \x1b[2J<@U0BOSS>",
        opened_by=EVIL,
        priority=Priority.PRODUCTION_DOWN,
        request_type=RequestType.PROBLEM,
        started_at=NOW - timedelta(minutes=10),
        due_at=NOW + timedelta(minutes=20),
        tz=ZoneInfo("Europe/Amsterdam"),
        now=NOW,
        responder=EVIL,
    )
    text, blocks = render(alert)
    rendered = [text, *texts(blocks)]
    for part in rendered:
        assert "<!channel>" not in part and "<@U0BOSS>" not in part and "\x1b" not in part
        # Slack's only markup is <...>: the one link left is the issue's own.
        links = re.findall(r"<([^>|]*)\|", part)
        assert links in ([], ["https://github.com/acme/support/issues/7"])
    names = [p for p in rendered if re.search(r"(Opened|Responded|Closed) by", p)]
    assert names and all("http://evil" not in p and "http[:]//evil" in p for p in names)
    assert "&lt;!channel&gt;" in text


def test_slack_name_and_text() -> None:
    assert slack_name(EVIL) == "Dänä &lt;!channel&gt; [x](http[:]//evil) @acme/everyone"
    assert slack_text("a\n<b>\tc & d\u202e") == "a &lt;b&gt; c &amp; d"
    assert len(slack_name("x" * 500)) == 100


def test_a_name_in_a_github_comment_is_one_code_span() -> None:
    assert code(EVIL) == "`Dänä <!channel> [x](http://evil) @acme/everyone`"
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("") == "` `"
    assert code("two\nlines\x1b[31m") == "`two lines`"


def _spans_whole(result: str) -> bool:
    """CommonMark: a run of N backticks opens a code span that only a run of exactly N
    closes; inside it nothing (emphasis, links, HTML, autolinks, mentions) is markup."""
    fence = re.match(r"`+", result)
    assert fence is not None
    inner = result[len(fence.group()) : -len(fence.group())]
    runs = re.findall(r"`+", inner)
    return result.endswith(fence.group()) and all(len(r) != len(fence.group()) for r in runs)


@given(st.text(max_size=300))
def test_any_text_becomes_one_printable_code_span(text: str) -> None:
    result = code(text)
    assert _spans_whole(result)
    assert "\n" not in result and all(
        unicodedata.category(c) not in ("Cc", "Cs", "Co") for c in result
    )


@given(st.text(max_size=500))
def test_any_answer_becomes_one_fenced_block(text: str) -> None:
    result = block(text)
    first, *body, last = result.split("\n")
    assert first.startswith("```") and first.endswith("text") and last == first[:-4]
    assert all(not line.startswith(last) for line in body)  # nothing inside closes it
    assert "\x1b" not in result and "\r" not in result


def test_defang_and_printable() -> None:
    assert defang("see https://x.test and ftp://y") == "see https[:]//x.test and ftp[:]//y"
    assert printable("ok\x1b]0;pwned\x07\x1b[31mred\x1b[0m\u202eend\x85") == "okredend"
    assert printable("👨\u200d👩") == "👨\u200d👩"  # an emoji sequence stays whole


def test_status_prints_no_terminal_escape_sequences(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mock_writes(harness)
    title = "Login down\x1b]0;owned\x07\x1b[2J\x1b[31m red\u202e\x9b1m"
    harness.deliver("issues", opened(issue__title=title))
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Login down red" in out
    assert not [c for c in out if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


def test_the_page_status_and_the_escalation_notify_and_link_nobody(
    oncall: Harness,
    fake_slack: FakeSlack,
    pagerduty: FakePagerDuty,
) -> None:
    """The on-call edits of the decision core go through the same helpers: the title in the
    escalation, the name of whoever acknowledged in PagerDuty on the page's status."""
    import json

    opening = opened_problem("All end users")
    opening["issue"]["title"] = f"{EVIL} \x1b[2J"  # type: ignore[index]
    oncall.deliver("issues", opening)
    assert oncall.sweep(oncall.time.now + timedelta(minutes=16)).escalated == 1
    body = json.dumps(
        {
            "event": {
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "agent": {"id": "PX", "summary": EVIL, "type": "user_reference"},
                "data": {"incident_key": pagerduty.incidents[0].dedup_key, "type": "incident"},
            }
        }
    ).encode()
    signature = pagerduty_signature(body)
    answer = oncall.http.post(
        f"{oncall.url}/pagerduty/webhooks",
        content=body,
        headers={"content-type": "application/json", "x-pagerduty-signature": signature},
    )
    assert answer.status_code == 200
    oncall.wait_idle()
    escalation = [m.text or "" for m in fake_slack.messages if "Escalation" in (m.text or "")]
    edits = [
        json.dumps(c.body, ensure_ascii=False)
        for c in fake_slack.calls
        if c.method == "chat.update"
    ]
    assert len(escalation) == 1 and edits
    for part in [*escalation, *edits]:
        assert "<!channel>" not in part
        assert "\x1b" not in part and "\\u001b" not in part
    # A title is text as in every alert (slack_text); a name is defanged too (slack_name).
    assert "&lt;!channel&gt;" in escalation[0] and "\n" not in escalation[0]
    assert not any("by Dänä &lt;!channel&gt; [x](http://evil)" in e for e in edits)
    assert any("Acknowledged by Dänä &lt;!channel&gt; [x](http[:]//evil)" in e for e in edits)
