"""The command line as an operator uses it: deadline, check-policy, sweep --now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from sla_sandbox.standins import FakeSlack
from tests import processes
from tests.factories import opened
from tests.harness import Harness, mock_writes


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return processes.run(
        [sys.executable, "-m", "app.cli.main", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("priority", "start", "due"),
    [
        ("urgent", "2026-11-27T16:30:00+01:00", "2026-11-30T09:30:00+01:00"),
        ("normal", "2026-11-27T16:30:00+01:00", "2026-11-30T17:00:00+01:00"),
        ("production-down", "2026-11-29T03:00:00+01:00", "2026-11-29T03:30:00+01:00"),
        ("urgent", "2026-11-27T15:30:00Z", "2026-11-30T09:30:00+01:00"),
    ],
)
def test_deadline_prints_the_due_time(
    priority: str, start: str, due: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deadline", "--priority", priority, "--start", start]) == 0
    assert capsys.readouterr().out.strip() == due


def test_deadline_with_a_policy_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "sla.yml"
    policy.write_text("timezone: America/New_York\n")
    args = ["deadline", "--priority", "urgent", "--start", "2026-11-27T16:30:00-05:00"]
    assert main([*args, "--policy", str(policy)]) == 0
    assert capsys.readouterr().out.strip() == "2026-11-30T09:30:00-05:00"


def test_deadline_refuses_a_time_without_offset() -> None:
    result = run("deadline", "--priority", "urgent", "--start", "2026-11-27T16:30:00")
    assert result.returncode == 2 and "no UTC offset" in result.stderr


def test_deadline_refuses_an_unknown_priority(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deadline", "--priority", "soon", "--start", "2026-11-27T16:30:00Z"]) == 2
    assert "unknown priority 'soon'" in capsys.readouterr().err


@pytest.mark.slow
def test_check_policy_names_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "sla.yml"
    bad.write_text("timezone: Mars/Olympus\npriorities:\n  urgent:\n    within: soon\n")
    result = run("check-policy", str(bad))
    assert result.returncode == 1
    assert f"{bad}:1: timezone:" in result.stderr
    assert f"{bad}:4: priorities.urgent.within:" in result.stderr
    good = tmp_path / "good.yml"
    good.write_text("timezone: Europe/Berlin\n")
    ok = run("check-policy", str(good))
    assert ok.returncode == 0 and "ok" in ok.stdout


def test_sweep_now_from_the_command_line(
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
        "SLACK_BOT_TOKEN": fake_slack.token,
        "SLACK_API_URL": fake_slack.api_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    assert main(["sweep", "--now", "2026-11-30T09:00:00+01:00"]) == 0
    assert "0 breached" in capsys.readouterr().out
    assert main(["sweep", "--now", "2026-11-30T09:31:00+01:00"]) == 0
    assert "1 breached" in capsys.readouterr().out
    assert len([m for m in fake_slack.messages if "breached" in m.text.lower()]) == 1


def test_failed_deliveries_are_listed_and_replayed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = opened()
    del data["issue"]["user"]  # type: ignore[index]
    harness.deliver("issues", data, delivery="dead-1")
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["deliveries", "--failed"]) == 0
    listing = capsys.readouterr().out
    assert "dead-1" in listing and "issues.opened" in listing and "dead after 1" in listing
    assert main(["deliveries", "--replay", "dead-1"]) == 0
    assert "queued again" in capsys.readouterr().out
    harness.services.worker.kick_threadsafe()  # `serve` finds it within its poll interval
    harness.wait_idle()
    stored = harness.delivery("dead-1")
    assert stored is not None and stored.status == "dead" and stored.attempts == 1
    assert main(["deliveries", "--replay", "nope"]) == 1


def test_dead_effects_are_listed_with_their_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.github.route("POST", "/repos/acme/support/issues/7/labels").respond(
        403, json={"message": "Resource not accessible by integration"}
    )
    harness.github.route("POST", "/repos/acme/support/issues/7/comments").respond(201, json={})
    harness.deliver("issues", opened())
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["deliveries", "--failed"]) == 0
    out = capsys.readouterr().out
    assert "effect intake:labels:acme/support#7  github add-labels  acme/support#7" in out
    assert "Resource not accessible by integration" in out


def test_status_shows_where_each_clock_stands(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())  # Fri 27 Nov 16:30 CET: urgent, due Mon 09:30
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    assert main(["status"]) == 0
    line = capsys.readouterr().out.strip()
    # `status` runs on the real clock, long past Monday: overdue is breached, as in `report`.
    assert line.startswith(
        "acme/support#7  response Urgent  breached (running)  started Fri 27 Nov 2026"
    )
    assert "due Mon 30 Nov 2026 09:30 CET" in line
    assert main(["status", "--issue", "acme/support#7"]) == 0
    assert "acme/support#7" in capsys.readouterr().out
    assert main(["status", "--issue", "nonsense"]) == 2
