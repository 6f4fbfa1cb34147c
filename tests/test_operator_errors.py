"""Operator mistakes end in a few lines that name the culprit and a non-zero exit, never a
traceback (unless --debug); `sweep --dry-run` changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests import processes
from tests.factories import opened
from tests.harness import SECRETS, Harness, answered, mock_writes, short_and_named, sla_bot


def test_a_broken_policy_for_deadline_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("timezone: Mars/Olympus\n")
    result = sla_bot(
        tmp_path,
        "deadline",
        "--priority",
        "urgent",
        "--start",
        "2026-11-27T16:30:00+01:00",
        "--policy",
        "broken.yml",
    )
    short_and_named(result, "broken.yml:1: timezone")


def test_an_app_id_without_a_key_names_both_variables(tmp_path: Path) -> None:
    result = sla_bot(
        tmp_path,
        "serve",
        GITHUB_APP_ID="123",
        GITHUB_WEBHOOK_SECRET="s3cr3t-x-of-some-length",
        DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
    )
    short_and_named(result, "GITHUB_APP_ID and GITHUB_PRIVATE_KEY")


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_named_without_its_password(tmp_path: Path) -> None:
    base = os.environ["SLA_BOT_TEST_POSTGRES_URL"].rsplit("/", 1)[0]
    url = base.replace("postgres@", "postgres:hunter2@", 1) + "/no_such_database_here"
    result = sla_bot(tmp_path, "report", DATABASE_URL=url)
    short_and_named(result, "DATABASE_URL: PostgreSQL database 'no_such_database_here'")
    assert "no_such_database_here" in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("env", "culprit"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/sla"}, "DATABASE_URL"),
        ({"SLA_SWEEP_INTERVAL": "abc"}, "SLA_SWEEP_INTERVAL"),
        ({"LOG_FORMAT": "yaml"}, "LOG_FORMAT"),
    ],
    ids=["mysql", "interval", "log-format"],
)
def test_a_bad_setting_names_its_variable(
    tmp_path: Path, env: dict[str, str], culprit: str
) -> None:
    short_and_named(sla_bot(tmp_path, "sweep", **env), culprit)


def test_a_broken_deployment_policy_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "sla.yml").write_text("priorities:\n  urgent:\n    within: soon\n")
    result = sla_bot(tmp_path, "sweep", SLA_POLICY_FILE="sla.yml")
    short_and_named(result, "sla.yml:3: priorities.urgent.within")


def test_report_in_the_wrong_folder_does_not_create_an_empty_store(tmp_path: Path) -> None:
    result = sla_bot(tmp_path, "report")
    short_and_named(result, "no store at sla-bot.db")
    assert not (tmp_path / "sla-bot.db").exists()


def test_nonsense_arguments_are_refused(tmp_path: Path) -> None:
    result = sla_bot(tmp_path, "report", "--since", "-5")
    assert result.returncode == 2 and "not a number of days" in result.stderr


@pytest.mark.slow
def test_github_unreachable_names_where(tmp_path: Path, app_key: str) -> None:
    (tmp_path / "s.db").touch()  # the store `serve` made
    result = sla_bot(
        tmp_path,
        "reconcile",
        "--repo",
        "acme/support",
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=app_key,
        GITHUB_API_URL="http://127.0.0.1:9",
        DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
    )
    short_and_named(result, "cannot reach 127.0.0.1:")
    debug = sla_bot(
        tmp_path,
        "--debug",
        "reconcile",
        "--repo",
        "acme/support",
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=app_key,
        GITHUB_API_URL="http://127.0.0.1:9",
        DATABASE_URL=f"sqlite:///{tmp_path / 's.db'}",
    )
    assert "Traceback" in debug.stderr  # --debug shows it


def test_ctrl_c_in_register_is_a_quiet_exit(tmp_path: Path) -> None:
    fake = FakeGitHub()  # register asks GitHub first
    with fake.serve():
        clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
        _ctrl_c_in_register(tmp_path, {**clean, "GITHUB_API_URL": fake.api_url})


def _ctrl_c_in_register(tmp_path: Path, clean: dict[str, str]) -> None:
    process = processes.Popen(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "register",
            "--webhook-url",
            "https://sla.example.com/webhooks/github",
            "--port",
            "0",
        ],
        cwd=tmp_path,
        env={**clean, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    # Started (however slowly on a busy machine) and about to serve its page.
    line = process.stdout.readline()
    assert line.startswith("Open http://127.0.0.1:"), line
    assert answered(line.split()[1]).status_code == 200  # the page is up
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode in (0, 130) and "Traceback" not in err, err


def test_version() -> None:
    result = processes.run(
        [sys.executable, "-m", "app.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stdout.startswith("sla-bot ")


def test_sweep_dry_run_prints_and_changes_nothing(
    harness: Harness,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    posts = len(fake_slack.messages)
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["sweep", "--dry-run", "--now", "2026-12-01T12:00:00+01:00"]) == 0
    out = capsys.readouterr().out
    assert "would breach acme/support#7 (urgent" in out and "nothing was changed" in out
    assert [c.state for c in harness.clocks()] == ["running"]
    assert len(fake_slack.messages) == posts
