"""The operator's safety: nothing silent, nothing touches a store or a customer by accident
(issue 26). Each test is named after what the operator did."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.test_operator_errors import short_and_named, sla_bot


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
