"""The report's numbers on a known data set, computed by hand."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import report
from app.cli import main
from app.store.clocks import Clock

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = Clock(
    id=0, installation_id=1, repo="acme/support", issue_number=0, kind="response",
    priority="urgent", request_type="problem", state="met", started_at=T0,
    due_at=T0 + timedelta(hours=1), warn_at=None, warned_at=None, breached_at=None,
    met_at=None, ended_at=None, responder=None, response_seconds=None, issue_title="",
    issue_url="", issue_author="",
)  # fmt: skip


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
    replace(BASE, id=8, issue_number=8, priority="normal", state="replaced",
            ended_at=T0 + timedelta(minutes=1)),
    met(9, 20, issue_number=8, started_at=T0 + timedelta(minutes=1)),
    replace(BASE, id=10, issue_number=10, priority="normal", state="dropped"),
    met(11, 120, priority="normal", request_type="guidance", due_at=T0 + timedelta(days=1)),
]  # fmt: skip


def rows() -> dict[tuple[str, str], report.Row]:
    return {(r.group, r.name): r for r in report.summarize(DATA, NOW)}


def test_urgent_row() -> None:
    urgent = rows()[("priority", "urgent")]
    # issues 1,2,3,4,5,6,7,8 (as clock 9): 8 requests; met 1,2,3,9; breached 4,5; running 6;
    # closed early 7. % met = 4/6. Response minutes 10,30,50,90,20 -> median 30, p90 90.
    assert (urgent.requests, urgent.met, urgent.breached, urgent.running, urgent.closed) == (
        8, 4, 2, 1, 1,
    )  # fmt: skip
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
    assert "urgent" in table and "66.7%" in table and "1h 30m" in table
    assert report.percent(100) == "100.0%" and report.duration(855) == "14h 15m"
    parsed = json.loads(report.as_json(data))
    assert parsed[1]["name"] == "urgent" and parsed[1]["met"] == 4
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


def test_the_status_meeting_page_of_the_demo_week(tmp_path: Path) -> None:
    """`DATABASE_URL=... sla-bot demo`, then `report --format html`: a self-contained page
    with two charts (well-formed inline SVG), the table and the week's breach with its link."""
    import os
    import re
    import subprocess
    import sys
    import xml.etree.ElementTree as ET
    from datetime import UTC, datetime

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "SLACK_BOT_TOKEN", "SLA_POLICY_FILE"):
        env.pop(name, None)
    run = [sys.executable, "-m", "app.cli"]
    demo = subprocess.run([*run, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    days = (datetime.now(UTC) - datetime(2026, 11, 20, tzinfo=UTC)).days  # covers the demo week
    page = subprocess.run([*run, "report", "--format", "html", "--since", str(days)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
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
