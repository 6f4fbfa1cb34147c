"""The status-meeting page: a customer's own requests, every breach kind, readable charts,
per-request JSON and CSV rows with the period, escaped HTML, the command line."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli.main import main
from app.reports import charts, meeting_export, report_html
from app.reports.meeting import Week, build, from_store
from app.reports.names import names_of
from app.sla.clock import Clock
from app.sla.customers import Account
from app.sla.policy import DEFAULT_POLICY, parse_policy
from app.store import clocks as store_clocks
from app.store import issues, make_engine, migrate
from app.store.database import Database
from app.store.issues import IssueRecord
from tests.factories import ACME
from tests.factories import AMSTERDAM as TZ
from tests.factories import MEETING_LATE as LATE
from tests.factories import MEETING_NOW as NOW
from tests.factories import MEETING_SINCE as SINCE
from tests.factories import MEETING_T0 as T0
from tests.factories import stored_clock as clock

SVG = "{http://www.w3.org/2000/svg}"


BREACHES = [  # one breach of each kind, on issue 1 (production down) and 2
    clock(
        10,
        issue_number=1,
        priority="production-down",
        state="breached",
        met_at=LATE,
        breached_at=T0 + timedelta(hours=1),
        response_seconds=3 * 3600,
    ),
    clock(
        11,
        "next_response",
        issue_number=2,
        state="breached",
        met_at=None,
        response_seconds=None,
        breached_at=T0 + timedelta(hours=1),
    ),
    clock(
        12,
        "update",
        issue_number=1,
        priority="production-down",
        state="stopped",
        met_at=None,
        response_seconds=None,
        breached_at=T0 + timedelta(hours=1),
        ended_at=T0 + timedelta(hours=1),
        ended_by="no update in time",
    ),
    clock(
        13,
        "resolution",
        issue_number=2,
        state="breached",
        met_at=None,
        response_seconds=None,
        breached_at=T0 + timedelta(hours=1),
    ),
    clock(
        14,
        "postmortem",
        issue_number=1,
        priority="production-down",
        state="met",
        started_at=T0 + timedelta(hours=4),
        due_at=T0 + timedelta(days=1),
        met_at=T0 + timedelta(days=2),
        breached_at=T0 + timedelta(days=1),
    ),
]


def test_every_kind_of_breach_is_listed_with_its_link() -> None:
    found = build(ACME, BREACHES, {}, SINCE, NOW, TZ)
    kinds = [c.kind for _, c in found.breaches]
    assert sorted(kinds) == ["next_response", "postmortem", "resolution", "response", "update"]
    page = report_html.as_html(found)
    every = page.split("<h2>Every breach</h2>")[1]
    for name in ("first response", "next response", "updates", "resolution", "post-mortem"):
        assert f"<td>{name}</td>" in every
    assert "<a href='https://github.com/acme/support/issues/1'>acme/support#1</a>" in every
    assert "still owed" in every  # the next response nobody gave yet


def test_now_lists_open_requests_soonest_due_first_with_who_and_pause() -> None:
    later = clock(
        1,
        state="running",
        met_at=None,
        response_seconds=None,
        responder=None,
        due_at=NOW + timedelta(hours=5),
    )
    sooner = clock(
        2,
        state="running",
        met_at=None,
        response_seconds=None,
        responder=None,
        due_at=NOW + timedelta(hours=1),
    )
    waiting = clock(
        3,
        "next_response",
        state="paused",
        met_at=None,
        response_seconds=None,
        paused_at=NOW - timedelta(hours=2),
    )
    done = clock(4)  # answered, closed since
    records = {
        ("acme/support", 2): IssueRecord(
            "acme/support", 2, "", "", "open", (), ("dana",), None, NOW
        ),
        ("acme/support", 4): IssueRecord(
            "acme/support", 4, "", "", "closed", (), (), NOW - timedelta(days=1), NOW
        ),
    }
    found = build(ACME, [later, sooner, waiting, done], records, SINCE, NOW, TZ)
    assert [item.request.number for item in found.open] == [2, 1, 3]
    assert found.open[0].request.who == "dana"  # the assignee
    assert found.open[2].paused and found.open[2].next_due is None
    assert [r.number for r in found.resolved] == [4]
    page = report_html.now_table(found)
    assert page.index("acme/support#2") < page.index("acme/support#1")
    assert "waiting on the customer" in page and "nobody yet" in page


def _store(tmp_path: Path) -> tuple[str, Database]:
    url = f"sqlite:///{tmp_path / 'meeting.db'}"
    engine = make_engine(url)
    migrate(engine)
    return url, Database(engine)


def _insert(db: Database, *found: Clock) -> None:
    for item in found:
        values = {k: v for k, v in asdict(item).items() if k != "id"}
        db.tx(store_clocks.start, **values)


POLICY = """\
timezone: Europe/Amsterdam
customers:
  acme: {name: "Acme Corp", repositories: [acme/support]}
  globex: {name: "Globex", labels: ["customer: globex"]}
"""


def test_a_customers_page_lists_only_their_requests(db: Database) -> None:
    _insert(
        db,
        clock(1),
        clock(2, repo="shared/desk"),
        clock(3, repo="shared/desk"),
        clock(4, repo="other/repo"),
    )
    label = IssueRecord(
        "shared/desk", 2, "Request 2", "", "open", ("customer: globex",), (), None, NOW
    )
    db.tx(issues.record, label)
    policy = parse_policy(POLICY)
    acme = db.tx(from_store, policy, SINCE, NOW, "acme")
    assert [r.ref for r in acme[0].requests] == ["acme/support#1"]
    globex = db.tx(from_store, policy, SINCE, NOW, "globex")
    assert [r.ref for r in globex[0].requests] == ["shared/desk#2"]
    html = report_html.as_html(globex[0])
    assert "shared/desk#2" in html and "acme/support#1" not in html and "#3" not in html
    every = db.tx(from_store, policy, SINCE, NOW)
    assert [m.account.key for m in every] == ["acme", "globex", ""]  # then nobody's
    assert [r.ref for r in every[2].requests] == ["other/repo#4", "shared/desk#3"]


def test_an_issue_keeps_its_latest_look_whatever_order_deliveries_come_in(db: Database) -> None:
    new = IssueRecord("o/r", 1, "t", "", "closed", ("a",), (), NOW, NOW)
    db.tx(issues.record, new)
    db.tx(issues.record, replace(new, state="open", labels=("b",), updated_at=T0))  # older
    assert db.tx(issues.records, [("o/r", 1)])[("o/r", 1)] == new
    db.tx(issues.record, replace(new, labels=("c",), updated_at=NOW + timedelta(seconds=1)))
    assert db.tx(issues.records, [("o/r", 1)])[("o/r", 1)].labels == ("c",)


def test_a_zero_percent_week_is_drawn_and_labeled() -> None:
    svg = charts.weekly_chart([Week("2026-W49", "urgent", 3, 3), Week("2026-W49", "normal", 0, 2)])
    root = ET.fromstring(svg)
    bars = {r.get("data-priority"): r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"}
    assert float(bars["normal"].get("height", "0")) >= 3  # a sliver, visible
    assert bars["normal"].get("data-percent") == "0"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "0%" in texts and "0 of 2" in texts and "3 of 3" in texts  # counts as text
    assert "Normal" in texts and "Urgent" in texts  # the legend


def test_the_histogram_has_a_legend_counts_as_text_and_no_clipped_label() -> None:
    first = [
        clock(1),
        clock(2, met_at=LATE, response_seconds=3 * 3600, breached_at=T0 + timedelta(hours=1)),
    ]
    root = ET.fromstring(charts.histogram(first, NOW))
    texts = {t.text: t for t in root.iter(f"{SVG}text")}
    assert "answered in time" in texts and "answered late" in texts
    assert "1 in time" in texts and "1 late" in texts
    assert min(float(t.get("y", "0")) for t in texts.values()) >= 14  # inside the picture


def test_everything_from_github_is_escaped() -> None:
    evil = clock(
        1,
        issue_title="<script>alert(1)</script>",
        responder="<b>x</b>",
        issue_url="javascript:alert(1)",
    )
    page = report_html.as_html(build(Account("k", "<i>Acme</i>", ()), [evil], {}, SINCE, NOW, TZ))
    assert "<script>" not in page and "<b>x</b>" not in page and "<i>Acme" not in page
    assert "javascript:" not in page and "&lt;script&gt;" in page


def test_json_and_csv_carry_the_period_and_a_row_per_request_and_clock() -> None:
    found = build(ACME, BREACHES, {}, SINCE, NOW, TZ)
    data = json.loads(meeting_export.as_json([found], DEFAULT_POLICY))
    assert data["version"] == 1 and data["customer"] == {"key": "acme", "name": "Acme Corp"}
    assert data["period"] == {
        "since": SINCE.isoformat(),
        "until": NOW.isoformat(),
        "days": 14,
        "timezone": "Europe/Amsterdam",
    }
    first = data["requests"][0]
    assert (first["issue"], first["customer"], first["priority"]) == (
        "acme/support#1",
        "acme",
        "production-down",
    )
    assert [c["kind"] for c in first["clocks"]] == ["response", "update", "postmortem"]
    assert first["clocks"][0]["outcome"] == "breached"
    assert first["clocks"][0]["counted_seconds"] == 3 * 3600
    rows = list(csv.DictReader(io.StringIO(meeting_export.as_csv([found], DEFAULT_POLICY))))
    assert len(rows) == len(BREACHES)
    assert tuple(rows[0]) == meeting_export.CSV_FIELDS
    assert rows[0]["period_since"] == SINCE.isoformat() and rows[0]["customer"] == "acme"


def test_json_and_csv_rows_name_the_priority_and_type_beside_their_keys() -> None:
    team = parse_policy(
        'priorities:\n  sev1: {name: "Sev 1", within: 1h, page: true}\n'
        '  sev2: {name: "Sev 2", within: 4h}\ntypes:\n  billing: {name: "Billing"}\n'
    )
    row = clock(1, priority="sev1", request_type="billing")
    found = build(ACME, [row], {}, SINCE, NOW, TZ, names_of(team))
    [request] = json.loads(meeting_export.as_json([found], team))["requests"]
    assert (request["priority"], request["priority_name"]) == ("sev1", "Sev 1")
    assert (request["type"], request["type_name"]) == ("billing", "Billing")
    [line] = csv.DictReader(io.StringIO(meeting_export.as_csv([found], team)))
    assert (line["priority"], line["priority_name"]) == ("sev1", "Sev 1")
    assert (line["type"], line["type_name"]) == ("billing", "Billing")


def test_csv_columns_keep_their_positions_with_the_names_added_last() -> None:
    header = next(csv.reader(io.StringIO(meeting_export.as_csv([], DEFAULT_POLICY))))
    assert header[8:10] == ["priority", "type"]
    assert header[-2:] == ["priority_name", "type_name"]


def test_the_command_writes_one_customers_page_or_says_who_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = _store(tmp_path)
    now = datetime.now(UTC)  # the command reads the real clock: keep the data recent
    _insert(
        db,
        clock(
            1,
            started_at=now - timedelta(days=1),
            due_at=now - timedelta(hours=20),
            met_at=now - timedelta(hours=23),
        ),
        clock(
            2,
            repo="other/repo",
            started_at=now - timedelta(days=1),
            due_at=now + timedelta(hours=1),
        ),
    )
    policy = tmp_path / "sla.yml"
    policy.write_text(POLICY)
    monkeypatch.setenv("DATABASE_URL", url)
    args = ["report", "--customer", "acme", "--policy", str(policy)]
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["issue"] for r in data["requests"]] == ["acme/support#1"]
    assert data["period"]["days"] == 14  # the default for a meeting
    assert main([*args, "--format", "md"]) == 0
    assert "# Acme Corp: status meeting" in capsys.readouterr().out
    out = tmp_path / "acme.html"
    assert main([*args, "--format", "html", "--out", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert main(["report", "--customer", "nobody", "--policy", str(policy)]) == 1
    assert "no customer 'nobody' (customers: acme, globex)" in capsys.readouterr().err
    assert main(["report", "--format", "html", "--policy", str(policy)]) == 0
    page = capsys.readouterr().out
    assert re.findall(r"<section class='customer' id='([^']+)'", page) == [
        "c-acme",
        "c-globex",
        "c-no-customer",
    ]
    assert "href='#c-acme'" in page  # the index


def test_a_delivery_tells_the_issues_labels_assignees_and_state() -> None:
    from app.store.issue_record import snapshot_of

    payload = json.loads(Path("tests/payloads/issues.closed.json").read_text())
    payload["issue"]["assignees"] = [{"login": "dana"}]
    found = snapshot_of(payload)
    assert found is not None and found.state == "closed" and found.assignees == ("dana",)
    assert found.labels == tuple(label["name"] for label in payload["issue"]["labels"])
    assert found.closed_at is not None
    assert snapshot_of({**payload, "action": "deleted"}).state == "deleted"  # type: ignore[union-attr]
    assert snapshot_of({"issue": {"number": "x"}}) is None  # the other handlers report it


def test_the_readme_shows_the_demo_weeks_page_at_1400_px() -> None:
    import struct

    root = Path(__file__).resolve().parents[1]
    png = (root / "docs" / "meeting-page.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">I", png[16:20])[0] == 1400
    assert "](docs/meeting-page.png)" in (root / "README.md").read_text()
