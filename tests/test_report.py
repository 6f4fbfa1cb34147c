"""The report's numbers on a known data set, computed by hand."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli.main import main
from app.reports import report
from app.store.clocks import Clock
from tests import processes
from tests.demo_week import DemoWeek

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = Clock(
    id=0,
    installation_id=1,
    repo="acme/support",
    issue_number=0,
    kind="response",
    priority="urgent",
    request_type="problem",
    state="met",
    started_at=T0,
    due_at=T0 + timedelta(hours=1),
    warn_at=None,
    warned_at=None,
    breached_at=None,
    met_at=None,
    ended_at=None,
    responder=None,
    response_seconds=None,
    issue_title="",
    issue_url="",
    issue_author="",
)


def met(n: int, minutes: int, **kw: object) -> Clock:
    at = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {"issue_number": n, **kw}
    return replace(BASE, id=n, met_at=at, response_seconds=minutes * 60, **fields)


DATA = [
    met(1, 10),  # urgent problem, met in 10m
    met(2, 30),  # met in 30m
    met(3, 50, request_type="change-request"),  # met in 50m
    met(4, 90, breached_at=T0 + timedelta(hours=1)),  # answered late: breached
    replace(BASE, id=5, issue_number=5, state="breached", breached_at=T0 + timedelta(hours=1)),
    replace(BASE, id=6, issue_number=6, state="running", due_at=NOW + timedelta(hours=1)),
    replace(BASE, id=7, issue_number=7, state="stopped", ended_at=T0 + timedelta(minutes=5)),
    # issue 8 was relabeled normal -> urgent: it counts once, under urgent
    replace(
        BASE,
        id=8,
        issue_number=8,
        priority="normal",
        state="replaced",
        ended_at=T0 + timedelta(minutes=1),
    ),
    met(9, 20, issue_number=8, started_at=T0 + timedelta(minutes=1)),
    replace(BASE, id=10, issue_number=10, priority="normal", state="dropped"),
    met(11, 120, priority="normal", request_type="guidance", due_at=T0 + timedelta(days=1)),
]


def rows() -> dict[tuple[str, str], report.Row]:
    return {(r.group, r.name): r for r in report.summarize(DATA, NOW)}


def test_urgent_row() -> None:
    urgent = rows()[("priority", "urgent")]
    # issues 1,2,3,4,5,6,7,8 (as clock 9): 8 requests; met 1,2,3,9; breached 4,5; running 6;
    # closed early 7. % met = 4/6. Response minutes 10,30,50,90,20 -> median 30, p90 90.
    assert (urgent.requests, urgent.met, urgent.breached, urgent.running, urgent.closed) == (
        8,
        4,
        2,
        1,
        1,
    )
    assert urgent.percent_met == 66.7
    assert (urgent.median_response_minutes, urgent.p90_response_minutes) == (30.0, 90.0)


def test_normal_row_ignores_dropped_and_replaced_clocks() -> None:
    normal = rows()[("priority", "normal")]
    assert (normal.requests, normal.met, normal.percent_met) == (1, 1, 100.0)
    assert normal.median_response_minutes == 120.0


def test_type_rows_and_total() -> None:
    got = rows()
    assert got[("type", "change-request")].requests == 1
    assert got[("type", "guidance")].met == 1
    assert got[("type", "problem")].requests == 7
    assert got[("all", "all")].requests == 9
    assert got[("priority", "production-down")].percent_met is None


def test_a_running_clock_past_due_counts_as_breached() -> None:
    late = replace(BASE, id=1, issue_number=1, state="running")
    assert report.outcome(late, NOW) == report.BREACHED


@pytest.mark.parametrize("p, expected", [(0.5, 3.0), (0.9, 5.0), (0.1, 1.0)])
def test_percentile_is_nearest_rank(p: float, expected: float) -> None:
    assert report.percentile([5.0, 1.0, 4.0, 2.0, 3.0], p) == expected


def test_formats_for_people_and_machines() -> None:
    data = report.summarize(DATA, NOW)
    table = report.as_table(data, "SLA report")
    assert "Urgent" in table and "66.7%" in table and "1h 30m" in table
    assert report.percent(100) == "100.0%" and report.duration(855) == "14h 15m"
    parsed = json.loads(report.as_json(data))
    assert parsed[1]["name"] == "urgent" and parsed[1]["met"] == 4
    assert parsed[1]["title"] == "Urgent"
    reader = list(csv.DictReader(io.StringIO(report.as_csv(data))))
    assert reader[1]["percent_met"] == "66.7"


def test_report_command_reads_the_store(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.store import make_engine, migrate

    url = f"sqlite:///{tmp_path}/r.db"
    engine = make_engine(url)
    migrate(engine)  # a store `serve` made, with nothing in it yet
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["report", "--format", "json", "--since", "7"]) == 0
    assert json.loads(capsys.readouterr().out)[-1]["requests"] == 0


@pytest.mark.slow
def test_the_status_meeting_page_of_the_demo_week(tmp_path: Path, demo_week: DemoWeek) -> None:
    """`sla-bot demo --store`, then `report --format html` on that store: a self-contained page
    with two charts (well-formed inline SVG), the table and the week's breach with its link."""
    import os
    import re
    import sys
    import xml.etree.ElementTree as ET
    from datetime import UTC, datetime

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{demo_week.copy_to(tmp_path)}"}
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "SLACK_BOT_TOKEN", "SLA_POLICY_FILE"):
        env.pop(name, None)
    run = [sys.executable, "-m", "app.cli.main"]
    days = (datetime.now(UTC) - datetime(2026, 11, 20, tzinfo=UTC)).days  # covers the demo week
    page = processes.run(
        [*run, "report", "--format", "html", "--since", str(days)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert page.returncode == 0, page.stderr
    html = page.stdout
    assert html.startswith("<!doctype html>") and "http" not in html.split("<body>")[0]
    charts = re.findall(r"<svg.*?</svg>", html, re.DOTALL)
    assert len(charts) == 2
    for chart in charts:
        root = ET.fromstring(chart)  # well-formed
        assert root.findall("{http://www.w3.org/2000/svg}rect")
    assert "https://github.com/acme/support/issues/3'>acme/support#3</a>" in html
    assert "Export invoices as CSV?" in html and "answered" in html
    assert "<script" not in html and "<link" not in html  # nothing fetched: works offline


def follow(n: int, kind: str, state: str, minutes: int | None = None, **kw: object) -> Clock:
    """A next-response, update or resolution clock of issue `n`, due an hour after T0."""
    fields: dict[str, object] = {"kind": kind, "state": state, "issue_number": n, **kw}
    if minutes is not None:
        fields.update(met_at=T0 + timedelta(minutes=minutes), response_seconds=minutes * 60)
    return replace(BASE, id=100 + len(FOLLOWERS), **fields)


FOLLOWERS: list[Clock] = []
FOLLOWERS += [follow(1, "next_response", "met", 20)]
FOLLOWERS += [follow(1, "next_response", "met", 40)]
# met 3 h after the comment, 2 h 30 of it paused: 30 counted, and due moved on by the pause
FOLLOWERS += [
    follow(
        2,
        "next_response",
        "met",
        180,
        paused_seconds=9000,
        due_at=T0 + timedelta(hours=3, minutes=30),
    )
]
FOLLOWERS += [follow(2, "next_response", "breached", breached_at=T0 + timedelta(hours=1))]
FOLLOWERS += [follow(3, "next_response", "replaced")]  # a relabel: its successor counts
FOLLOWERS += [follow(6, "update", "stopped", breached_at=T0 + timedelta(hours=1))]  # lapsed
FOLLOWERS += [follow(6, "update", "met", 45)]
FOLLOWERS += [follow(6, "resolution", "paused", due_at=NOW + timedelta(days=1))]


def test_target_rows_count_every_clock_of_their_kind() -> None:
    got = {(r.group, r.name): r for r in report.summarize(DATA + FOLLOWERS, NOW)}
    first = got[("target", "first response")]
    everything = got[("all", "all")]
    assert (first.requests, first.percent_met) == (everything.requests, everything.percent_met)
    nxt = got[("target", "next response")]
    # 4 counted (the replaced one is not); met in 20, 40 and 180 minutes (150 of them paused,
    # due moved on by the pause: in time); one breached. % met 3/4; median 40, p90 180.
    assert (nxt.requests, nxt.met, nxt.breached, nxt.percent_met) == (4, 3, 1, 75.0)
    assert (nxt.median_response_minutes, nxt.p90_response_minutes) == (40.0, 180.0)
    updates = got[("target", "updates")]
    assert (updates.requests, updates.met, updates.breached) == (2, 1, 1)
    resolution = got[("target", "resolution")]
    assert (resolution.requests, resolution.running, resolution.percent_met) == (1, 1, None)
    assert ("target", "post-mortem") not in got  # no post-mortem clock in this period
    table = report.as_table(report.summarize(DATA + FOLLOWERS, NOW), "SLA report")
    assert "by target:" in table and "next response" in table and "75.0%" in table


def test_repository_rows() -> None:
    other = replace(met(20, 15), repo="acme/billing")
    got = {(r.group, r.name): r for r in report.summarize([*DATA, other], NOW)}
    assert got[("repository", "acme/billing")].requests == 1
    assert got[("repository", "acme/support")].requests == 9
