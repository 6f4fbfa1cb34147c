"""The newcomer's first run: the demo replays the week and prints what everyone saw, from
GitHub, Slack (alerts, pages and a request opened from the shared channel), PagerDuty and the
escalation number."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sla_sandbox.demo import run_demo
from tests import processes


def test_the_demo_tells_the_story_of_the_week(tmp_path: Path) -> None:
    lines: list[str] = []
    page = tmp_path / "meeting.html"
    assert run_demo(lines.append, page=page) == 0
    text = "\n".join(lines)
    # It ends with the week's status-meeting page, and says where it is.
    assert f"the status-meeting page of acme/support for the week: {page}" in text
    html = page.read_text()
    assert "acme/support: status meeting" in html
    assert "2026-W49 Normal: 1 of 2 met" in html  # #3 late; #7, from Slack, in time
    # The incident's post-mortem, linked by Ari in a comment, is a link on the page.
    assert "<a href='https://wiki.acme.example/pm/2026-11-29-checkout'>the post-mortem</a>" in html
    expected = [
        "GitHub  created 13 labels",
        "#1 labeled priority: production-down",
        "Slack   #on-call: :rotating_light: Paging on-call: acme/support#1",
        "PagerDuty  trigger incident of acme/support#1",  # the on-call loop: page, ...
        "#1 comment: **ari** (on call) is on it since Sun 29 Nov 2026, 02:52 CET",  # acknowledge
        "Slack   the page now says: Acknowledged by ari",
        "PagerDuty  acknowledge incident of acme/support#1",
        "#1 comment: This incident is resolved (ari",  # ... resolve ...
        "PagerDuty  resolve incident of acme/support#1",
        "#on-call  (in thread): :white_check_mark: Issue closed: acme/support#1",
        "#1 labeled postmortem: due",
        "#2 labeled priority: urgent",
        "You can expect a first response by **Mon 30 Nov 2026, 10:20 CET",
        "Slack   #support: :mega: New urgent request: acme/support#2",
        "#4 labeled priority: urgent",  # production down asked for a user change: urgent
        "#5 labeled priority: normal, type: other",  # no form: default priority, type other
        "New urgent request: acme/support#5",  # after the engineer's relabel
        "#3 labeled sla: breached",
        "First-response SLA breached: acme/support#3",
        "(in thread): :speech_balloon: First response arrived late: acme/support#3",
        # after the first response: an incident's updates, a customer's next question, a pause
        "#on-call  (in thread): :loudspeaker: Incident update overdue: acme/support#1",
        "intake comment edited: First response: Mon 30 Nov 2026, 09:48 CET (Europe/Amsterdam) "
        "by bo | Our answer to your last comment: by",
        "#2 label removed: sla: waiting on customer",
        "#support  (in thread): :red_circle: Next-response SLA breached: the customer is "
        "waiting: acme/support#2",
        # a call to the escalation number: the caller pressed 2, so nobody was paged
        "GitHub  issue opened: Urgent: phone call from +31 •••••• 678 (priority: urgent, "
        "type: problem)",
        "GitHub  #6 body edited: - **Recording:** https://api.twilio.com/",
        "GitHub  #6 body edited: > Hi, Kim from Acme. Invoices show last month's prices.",
        # a request opened from Slack: the issue, the link in the thread, a reply in the
        # thread as a comment, and the team's answer on GitHub back in the thread
        "GitHub  issue opened: Can we get invoices in EUR and USD? (priority: normal, type: other)",
        "Slack   #acme-shared  (in thread): Thanks, <@U0KIM>: this is now "
        "<https://github.com/acme/support/issues/7|acme/support#7>",
        "GitHub  #7 comment: **kim** [via Slack]",
        "Slack   #acme-shared  (in thread): *bo* on <https://github.com/acme/support/issues/7#",
        "SLA report for the week",
        "  next response                  2         1         1",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert text.count("First-response SLA breached") == 1  # exactly one breach all week
    assert text.count("PagerDuty  ") == 3  # one incident: triggered, acknowledged, resolved
    report = text.split("SLA report for the week")[1]
    total = next(line for line in report.splitlines() if line.strip().startswith("all"))
    assert total.split()[1:4] == ["7", "6", "1"]  # requests, met, breached
    assert "nothing left running" in text


@pytest.mark.slow
def test_the_demo_command_runs_as_a_newcomer_would(tmp_path: Path) -> None:
    page = tmp_path / "week.html"
    result = processes.run(
        [sys.executable, "-m", "app.cli.main", "demo", "--page", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert page.read_text().startswith("<!doctype html>")
    assert "SLA report for the week" in result.stdout
