"""The operator's safety: nothing silent, nothing touches a store or a customer by accident
(issue 26). Each test is named after what the operator did."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.standins import FakeSlack
from app.store import make_engine, migrate, outbox, tables
from tests.harness import Harness
from tests.test_operator_errors import short_and_named, sla_bot
from tests.webhooks.test_intake import mock_writes, opened


@pytest.mark.parametrize(
    "command",
    [
        ["sweep"], ["sweep", "--dry-run"], ["reconcile"], ["work"], ["status"], ["report"],
        ["deliveries", "--failed"],
    ],
    ids=lambda c: "-".join(c),
)  # fmt: skip
def test_cron_sweep_in_home_folder_refuses_without_creating_a_store(
    tmp_path: Path, command: list[str]
) -> None:
    result = sla_bot(tmp_path, *command)
    short_and_named(result, "no store at sla-bot.db")
    assert result.returncode == 2
    assert "sla-bot serve" in result.stderr  # what to do
    assert not (tmp_path / "sla-bot.db").exists()
    assert "0 breached" not in result.stdout


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["sweep"], ["serve"]])
def test_a_database_never_created_is_one_line_with_createdb_at_once(
    tmp_path: Path, command: list[str]
) -> None:
    base = os.environ["SLA_BOT_TEST_POSTGRES_URL"].rsplit("/", 1)[0]
    url = base.replace("postgres@", "postgres:hunter2@", 1) + "/sla_never_created"
    started = time.monotonic()
    result = sla_bot(tmp_path, *command, DATABASE_URL=url, SLA_STORE_WAIT="60",
                     GITHUB_WEBHOOK_SECRET="a-webhook-secret-of-some-length")  # fmt: skip
    assert time.monotonic() - started < 20  # not waited out as an outage (SLA_STORE_WAIT)
    short_and_named(result, "'sla_never_created' does not exist")
    assert result.returncode == 2
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres sla_never_created" in result.stderr
    assert "hunter2" not in result.stderr and "retrying" not in result.stderr


def test_demo_with_the_operators_database_url_leaves_their_store_alone(tmp_path: Path) -> None:
    production = tmp_path / "production.db"
    engine = make_engine(f"sqlite:///{production}")
    migrate(engine)  # the store `serve` keeps, with nothing in it yet
    result = sla_bot(tmp_path, "demo", DATABASE_URL=f"sqlite:///{production}")
    assert result.returncode == 0, result.stderr
    assert "store: a temporary one of its own, deleted at exit" in result.stdout
    assert "SLA report for the week" in result.stdout
    with engine.connect() as conn:
        counts = [conn.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in (tables.deliveries, tables.clocks, tables.outbox)]  # fmt: skip
    engine.dispose()
    assert counts == [0, 0, 0]
    assert not (tmp_path / "sla-bot.db").exists()


def test_demo_with_store_keeps_the_week_for_a_report(tmp_path: Path) -> None:
    result = sla_bot(tmp_path, "demo", "--store", "week.db")
    assert result.returncode == 0, result.stderr
    assert f"store: sqlite:///{tmp_path / 'week.db'} (--store, kept)" in result.stdout
    report = sla_bot(tmp_path, "report", "--since", "3650", "--format", "json",
                     DATABASE_URL="sqlite:///week.db")  # fmt: skip
    assert report.returncode == 0, report.stderr
    total = next(row for row in json.loads(report.stdout) if row["group"] == "all")
    assert (total["requests"], total["met"], total["breached"]) == (5, 4, 1)


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
