"""The operator's safety: nothing silent, nothing touches a store or a customer by accident
(issue 26). Each test is named after what the operator did."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from time import monotonic, sleep

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from app.cli.main import main
from app.config import Settings
from app.github.app import GitHubApp
from app.github.http import Session
from app.http.main import check_app_key
from app.logs import Throttle
from app.metrics import Metrics
from app.services import build
from app.store import deliveries, make_engine, migrate, outbox, tables
from sla_sandbox.standins import FakeGitHub, FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests import processes
from tests.demo_week import DemoWeek
from tests.factories import PROD, SECRET, SUNDAY_3AM, opened, problem_form, signed
from tests.harness import (
    REPO,
    SECRETS,
    Harness,
    MovableTime,
    free_port,
    mock_writes,
    private_key_pem,
    serve_logged,
    short_and_named,
    sla_bot,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["sweep"],
        ["sweep", "--dry-run"],
        ["reconcile"],
        ["work"],
        ["status"],
        ["report"],
        ["deliveries", "--failed"],
    ],
    ids=lambda c: "-".join(c),
)
def test_cron_sweep_in_home_folder_refuses_without_creating_a_store(
    tmp_path: Path, command: list[str]
) -> None:
    result = sla_bot(tmp_path, *command)
    short_and_named(result, "no store at sla-bot.db")
    assert result.returncode == 2
    assert "sla-bot serve" in result.stderr  # what to do
    assert not (tmp_path / "sla-bot.db").exists()
    assert "0 breached" not in result.stdout


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("command", [["sweep"], ["serve"]])
def test_a_database_never_created_is_one_line_with_createdb_at_once(
    tmp_path: Path, command: list[str]
) -> None:
    base = os.environ["SLA_BOT_TEST_POSTGRES_URL"].rsplit("/", 1)[0]
    url = base.replace("postgres@", "postgres:hunter2@", 1) + "/sla_never_created"
    started = monotonic()
    result = sla_bot(
        tmp_path,
        *command,
        DATABASE_URL=url,
        SLA_STORE_WAIT="60",
        GITHUB_WEBHOOK_SECRET="a-webhook-secret-of-some-length",
    )
    assert monotonic() - started < 20  # not waited out as an outage (SLA_STORE_WAIT)
    short_and_named(result, "'sla_never_created' does not exist")
    assert result.returncode == 2
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres sla_never_created" in result.stderr
    assert "hunter2" not in result.stderr and "retrying" not in result.stderr


@pytest.mark.slow
def test_demo_with_the_operators_database_url_leaves_their_store_alone(tmp_path: Path) -> None:
    production = tmp_path / "production.db"
    engine = make_engine(f"sqlite:///{production}")
    migrate(engine)  # the store `serve` keeps, with nothing in it yet
    result = sla_bot(tmp_path, "demo", DATABASE_URL=f"sqlite:///{production}")
    assert result.returncode == 0, result.stderr
    assert "store: a temporary one of its own, deleted at exit" in result.stdout
    assert "SLA report for the week" in result.stdout
    with engine.connect() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (tables.deliveries, tables.clocks, tables.outbox)
        ]
    engine.dispose()
    assert counts == [0, 0, 0]
    assert not (tmp_path / "sla-bot.db").exists()


@pytest.mark.slow
def test_demo_with_store_keeps_the_week_for_a_report(tmp_path: Path, demo_week: DemoWeek) -> None:
    assert f"store: sqlite:///{demo_week.folder / 'demo.db'} (--store, kept)" in demo_week.stdout
    demo_week.copy_to(tmp_path, "week.db")
    report = sla_bot(
        tmp_path, "report", "--since", "3650", "--format", "json", DATABASE_URL="sqlite:///week.db"
    )
    assert report.returncode == 0, report.stderr
    total = next(row for row in json.loads(report.stdout) if row["group"] == "all")
    assert (total["requests"], total["met"], total["breached"]) == (7, 6, 1)


def test_cron_sweep_without_slack_token_leaves_the_breach_alert_owed_and_fails(
    harness: Harness,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    settings = harness.settings
    env = {
        "GITHUB_APP_ID": settings.github_app_id,
        "GITHUB_PRIVATE_KEY": settings.private_key(),
        "GITHUB_API_URL": settings.github_api_url,
        "DATABASE_URL": settings.database_url,
        "SLACK_API_URL": fake_slack.api_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)  # cron's incomplete environment
    capsys.readouterr()
    assert main(["sweep", "--now", "2026-11-30T09:31:00+01:00"]) == 1
    err = capsys.readouterr().err
    assert "1 Slack alerts owed and not sent: SLACK_BOT_TOKEN is not set" in err
    assert len([line for line in err.splitlines() if line.startswith("sla-bot:")]) == 1
    assert not [m for m in fake_slack.messages if "breached" in m.text.lower()]
    assert harness.services.db.tx(outbox.owed, [outbox.SLACK]) == {outbox.SLACK: 1}
    # The next run with the token sends it, once.
    monkeypatch.setenv("SLACK_BOT_TOKEN", str(fake_slack.token))
    assert main(["sweep", "--now", "2026-11-30T09:32:00+01:00"]) == 0
    assert len([m for m in fake_slack.messages if "breached" in m.text.lower()]) == 1


def migrated_store(folder: Path) -> str:
    """The store `serve` made in `folder` (empty)."""
    url = f"sqlite:///{folder / 'sla-bot.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def test_report_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    migrated_store(tmp_path)
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    process = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "report", "--format", "html"],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head -2` read its lines and went away before the report came
    with process.stderr:
        err = process.stderr.read()
    process.wait(60)
    assert err == "" and process.returncode == 141


@pytest.mark.slow
def test_reconcile_with_a_refused_key_is_one_line_and_debug_after_it_shows_the_traceback(
    tmp_path: Path, fake_github: FakeGitHub, app_key: str
) -> None:
    migrated_store(tmp_path)
    env = {
        "GITHUB_APP_ID": fake_github.app_id,
        "GITHUB_PRIVATE_KEY": app_key,  # another App's
        "GITHUB_API_URL": fake_github.api_url,
    }
    result = sla_bot(tmp_path, "reconcile", "--repo", REPO, **env)
    short_and_named(result, "GitHub refused the App's credentials (401")
    assert "GITHUB_APP_ID and GITHUB_PRIVATE_KEY" in result.stderr
    debug = sla_bot(tmp_path, "reconcile", "--repo", REPO, "--debug", **env)
    assert "Traceback" in debug.stderr and debug.returncode != 0


def test_a_failure_in_the_log_is_told_once_a_minute_with_a_count() -> None:
    throttle = Throttle()

    def record(at: float, kind: str | None = "store gone") -> logging.LogRecord:
        made = logging.LogRecord("app", logging.ERROR, "", 0, "delivery not stored", None, None)
        made.created = at
        if kind is not None:
            made._kind = kind
        return made

    told = [
        (at, r.getMessage()) for at in (0, 10, 30, 59, 61, 70) if throttle.filter(r := record(at))
    ]
    assert told == [(0, "delivery not stored"), (61, "delivery not stored (3 more like it)")]
    assert throttle.filter(record(11, "github unreachable"))  # another kind: its own minute
    assert all(throttle.filter(record(at, None)) for at in (1, 2))  # ordinary lines: all


@pytest.mark.slow
def test_serve_with_github_unreachable_logs_one_line_not_tracebacks(
    tmp_path: Path, app_key: str
) -> None:
    process, port = serve_logged(
        tmp_path,
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=app_key,
        GITHUB_API_URL="http://127.0.0.1:9",  # nothing listens there
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = monotonic() + 30
        while monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                sleep(0.1)
        for n in range(1, 6):
            body, headers = signed(opened_payload(n), f"unreachable-{n}")
            assert (
                httpx.post(
                    f"{base}/webhooks/github", content=body, headers=headers, timeout=10
                ).status_code
                == 202
            )
        deadline = monotonic() + 30
        while failed_deliveries(tmp_path / "s.db") < 5 and monotonic() < deadline:
            sleep(0.05)  # until each delivery was tried and failed
        assert failed_deliveries(tmp_path / "s.db") == 5
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "Traceback" not in err, err
    failed = [line for line in err.splitlines() if "handler failed" in line]
    assert len(failed) == 1, err  # five deliveries failed alike: told once this minute
    assert "cannot reach 127.0.0.1:" in failed[0]


def failed_deliveries(store: Path) -> int:
    """Deliveries tried and failed in the SQLite store at `store` (their error kept)."""
    with closing(sqlite3.connect(store)) as conn:
        query = "SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL"
        return int(conn.execute(query).fetchone()[0])


def opened_payload(number: int) -> dict[str, object]:
    data = opened()
    data["issue"]["number"] = number  # type: ignore[index]
    return data


@pytest.mark.slow
@pytest.mark.postgres
def test_database_dropped_under_serve_is_a_few_lines_not_tracebacks(tmp_path: Path) -> None:
    base = os.environ["SLA_BOT_TEST_POSTGRES_URL"]
    name = f"sla_dropped_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    process, port = serve_logged(
        tmp_path,
        DATABASE_URL=base.rsplit("/", 1)[0] + f"/{name}",
        SLA_SWEEP_INTERVAL="0.25",
        SLA_WORKER="inline",
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = monotonic() + 30
        while monotonic() < deadline:
            try:
                httpx.get(f"{base_url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                sleep(0.1)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        answers = []
        for n in range(1, 21):
            body, headers = signed(opened_payload(n), f"dropped-{n}")
            answers.append(
                httpx.post(
                    f"{base_url}/webhooks/github", content=body, headers=headers, timeout=10
                ).status_code
            )
            httpx.get(f"{base_url}/metrics", timeout=10)
        sleep(0.75)  # three sweeps fail too
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    assert set(answers) == {503}  # not accepted: GitHub sends them again
    assert "Traceback" not in err, err[-3000:]
    told = [line for line in err.splitlines() if "cannot use the store" in line]
    assert 1 <= len(told) <= 6, err  # a line per kind (receiver, metrics, sweep...), not per try


def test_serve_on_port_99999_is_refused(tmp_path: Path) -> None:
    for command in ("serve", "sandbox"):
        result = sla_bot(tmp_path, command, "--port", "99999")
        assert result.returncode == 2 and "'99999' is not a port (1 to 65535)" in result.stderr
    assert not (tmp_path / "sla-bot.db").exists()


def test_serve_with_a_three_character_webhook_secret_names_the_variable(tmp_path: Path) -> None:
    result = sla_bot(tmp_path, "serve", GITHUB_WEBHOOK_SECRET="abc")
    short_and_named(result, "GITHUB_WEBHOOK_SECRET is too short: use at least 16")
    assert "abc" not in result.stderr


def test_a_thirteen_character_webhook_secret_is_taken_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from app.config import Settings

    secret = "perf-1a2b3c4d"  # how the side-by-side load harness (shared/perf) signs
    with caplog.at_level(logging.WARNING, logger="app.config"):
        assert Settings(github_webhook_secret=secret).webhook_secret() == secret
    assert "GITHUB_WEBHOOK_SECRET is weak: use at least 16" in caplog.text
    assert secret not in caplog.text


@pytest.mark.slow
def test_a_second_serve_on_the_same_sqlite_file_refuses_with_one_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in SECRETS},
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "SLA_SWEEP_INTERVAL": "0",
        "SLA_REDELIVER_INTERVAL": "0",
        "SLA_RECONCILE_INTERVAL": "0",
    }
    first = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "serve", "--port", str(port := free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = monotonic() + 30
        while monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                sleep(0.1)
        second = sla_bot(
            tmp_path, "serve", "--port", str(free_port()), GITHUB_WEBHOOK_SECRET=SECRET
        )
        short_and_named(second, f"another `sla-bot serve` (pid {first.pid}) is using sla-bot.db")
        assert second.returncode == 2
    finally:
        first.terminate()
        first.wait(20)
    # Once the first one stopped, the store is free again.
    again = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "serve", "--port", str(port := free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = monotonic() + 30
        while monotonic() < deadline and again.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                sleep(0.1)
        assert again.poll() is None
    finally:
        again.terminate()
        again.communicate(timeout=20)


def test_the_rate_limit_gauge_has_no_value_until_github_answers() -> None:
    metrics = Metrics()
    assert "\nsla_bot_github_rate_limit_remaining" not in metrics.render().decode()
    metrics.observe_github("GET", None, {})  # GitHub unreachable: still no value
    assert "\nsla_bot_github_rate_limit_remaining" not in metrics.render().decode()
    metrics.observe_github("GET", 200, {"x-ratelimit-remaining": "4321"})
    text = metrics.render().decode()
    assert 'sla_bot_github_rate_limit_remaining{resource="core"} 4321.0' in text


@pytest.mark.slow
def test_reconcile_with_no_known_repositories_says_so(tmp_path: Path, app_key: str) -> None:
    migrated_store(tmp_path)
    result = sla_bot(
        tmp_path,
        "reconcile",
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=app_key,
        GITHUB_API_URL="http://127.0.0.1:9",
    )
    short_and_named(result, "no repositories known to this store yet")
    assert result.returncode == 1 and "--repo" in result.stderr


def paging_settings(
    fake: FakeGitHub, key: str, tmp_path: Path, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> Settings:
    """A deployment with Slack and PagerDuty, on the GitHub stand-in, with App key `key`."""
    return Settings(
        github_app_id=fake.app_id,
        github_private_key=key,
        github_api_url=fake.api_url,
        database_url=f"sqlite:///{tmp_path / 'sla.db'}",
        slack_bot_token=fake_slack.token,
        slack_api_url=fake_slack.api_url,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
    )


@pytest.mark.anyio
async def test_a_wrong_app_key_still_pages_slack_and_pagerduty_at_once_and_github_follows_the_fix(
    tmp_path: Path, fake_slack: FakeSlack, pagerduty: FakePagerDuty, time: MovableTime
) -> None:
    time.now = SUNDAY_3AM
    fake = FakeGitHub(time=time)  # the App's real key is fake.private_key_pem
    with fake.serve():
        fake.add_repo(REPO, 77)
        issue = fake.open_issue(
            REPO, title="Checkout is down", user="kim", body=problem_form(PROD, "All end users")
        )

        def settings(key: str) -> Settings:
            return paging_settings(fake, key, tmp_path, fake_slack, pagerduty)

        # A typo: the key of another App. GitHub answers 401 to every call sla-bot makes.
        wrong = build(settings(private_key_pem()), time=time, require_secret=False)
        body = json.dumps(fake.payload("issues", "opened", REPO, issue["number"]))
        wrong.db.tx(
            deliveries.record,
            delivery_id="d1",
            event="issues",
            action="opened",
            installation_id=77,
            repo=REPO,
            issue_number=issue["number"],
            body=body,
            now=time(),
        )
        started = monotonic()
        try:
            await wrong.worker.drain()
            processed = wrong.db.tx(deliveries.get, "d1")
        finally:
            await wrong.aclose()
        assert monotonic() - started < 5
        assert processed is not None and processed.status == "done"  # not retried
        [page] = [m for m in fake_slack.messages if m.channel == "#on-call"]
        assert "Paging on-call" in page.text
        told = json.dumps(page.blocks)
        assert "policy could not be read from GitHub" in told and "refused the App's key" in told
        [trigger] = pagerduty.events
        assert trigger["event_action"] == "trigger"
        assert "refused the App's key" in trigger["payload"]["custom_details"]["policy"]
        assert fake.label_names(REPO, issue["number"]) == []  # nothing written to GitHub yet
        assert fake.comments(REPO, issue["number"]) == []  # waiting in the outbox

        # The operator fixes GITHUB_PRIVATE_KEY and restarts: the label and comment follow.
        time.advance(minutes=2)
        fixed = build(
            settings(str(fake.private_key_pem)),
            time=time,
            require_secret=False,
        )
        try:
            await fixed.worker.drain()
        finally:
            await fixed.aclose()
        assert "priority: production-down" in fake.label_names(REPO, issue["number"])
        [comment] = fake.comments(REPO, issue["number"])
        assert "Production down" in comment["body"]
        assert len([m for m in fake_slack.messages if m.channel == "#on-call"]) == 1  # once
        assert len(pagerduty.events) == 1


@pytest.mark.slow
def test_serve_with_another_apps_key_says_so_in_one_line_and_keeps_serving(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    wrong_key = private_key_pem()
    process, port = serve_logged(
        tmp_path,
        GITHUB_APP_ID=fake_github.app_id,
        GITHUB_PRIVATE_KEY=wrong_key,
        GITHUB_API_URL=fake_github.api_url,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = monotonic() + 30
        while not fake_github.calls_to("GET", r"^/app$") and monotonic() < deadline:
            sleep(0.1)
        sleep(0.5)  # its answer logged
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # still serving
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    refused = [line for line in err.splitlines() if "refused the App's key" in line]
    assert len(refused) == 1, err
    assert "401" in refused[0] and "GITHUB_APP_ID" in refused[0]
    assert "GITHUB_PRIVATE_KEY" in refused[0] and "Traceback" not in err
    body = "".join(wrong_key.splitlines()[1:-1])
    assert body[:40] not in err and "PRIVATE KEY-----" not in err  # no secret in the log


@pytest.mark.anyio
@pytest.mark.parametrize("right", [True, False], ids=["the-apps-key", "another-key"])
async def test_the_start_up_check_asks_github_for_the_app_with_its_key(
    time: MovableTime, caplog: pytest.LogCaptureFixture, right: bool
) -> None:
    fake = FakeGitHub(time=time)
    with fake.serve(), caplog.at_level(logging.INFO, logger="app.http.main"):
        http = Session()
        key = str(fake.private_key_pem) if right else private_key_pem()
        github = GitHubApp(
            app_id=fake.app_id, private_key=key, base_url=fake.api_url, http=http, time=time
        )
        try:
            assert await check_app_key(github, fake.app_id) is right
        finally:
            await http.aclose()
    [line] = [r.getMessage() for r in caplog.records if r.name == "app.http.main"]
    assert ("is accepted (app 123456, sla-bot)" in line) is right
    assert ("refused the App's key" in line) is not right


@pytest.mark.anyio
async def test_a_wrong_app_key_still_pages_a_relabel_to_production_down(
    tmp_path: Path, fake_slack: FakeSlack, pagerduty: FakePagerDuty, time: MovableTime
) -> None:
    time.now = SUNDAY_3AM
    fake = FakeGitHub(time=time)
    with fake.serve():
        fake.add_repo(REPO, 77)
        issue = fake.open_issue(
            REPO, title="Checkout is slow", user="kim", labels=("priority: production-down",)
        )
        wrong = build(
            paging_settings(fake, private_key_pem(), tmp_path, fake_slack, pagerduty),
            time=time,
            require_secret=False,
        )
        body = json.dumps(
            fake.payload(
                "issues", "labeled", REPO, issue["number"], label="priority: production-down"
            )
        )
        wrong.db.tx(
            deliveries.record,
            delivery_id="d1",
            event="issues",
            action="labeled",
            installation_id=77,
            repo=REPO,
            issue_number=issue["number"],
            body=body,
            now=time(),
        )
        try:
            await wrong.worker.drain()
            processed = wrong.db.tx(deliveries.get, "d1")
        finally:
            await wrong.aclose()
        assert processed is not None and processed.status == "done"  # paged, not retried
        [page] = [m for m in fake_slack.messages if m.channel == "#on-call"]
        assert "Paging on-call" in page.text and "policy could not be read" in json.dumps(
            page.blocks
        )
        assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
