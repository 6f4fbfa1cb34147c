"""The store knows which targets the deployment uses (issue 26): `serve` records those it has
credentials for; effects for a target the deployment does not use are recorded not sent, those
for a used target this process cannot send stay owed and fail the sweep. Each test is named
after what the operator did."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from time import monotonic, sleep

import httpx
import pytest

from app.cli.main import main
from app.jobs import targets
from app.services import targets as credentials
from app.store import make_engine, meta, outbox, queue, tables
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests.factories import opened, opened_problem
from tests.harness import (
    GitHubMock,
    Harness,
    MovableTime,
    mock_writes,
    serve_logged,
)

BREACHED = "2026-11-30T09:31:00+01:00"  # the urgent request of Friday 16:30 is past due


@pytest.fixture
def without_slack(
    tmp_path: Path, github: GitHubMock, time: MovableTime, app_key: str
) -> Iterator[Harness]:
    """`serve` run without SLACK_BOT_TOKEN."""
    with Harness(
        database_url=f"sqlite:///{tmp_path / 'sla.db'}",
        github=github,
        slack=None,
        time=time,
        private_key=app_key,
    ) as running:
        yield running


def started(harness: Harness, *names: str) -> list[tuple[int, str]]:
    """What `serve` does at start-up with these targets' credentials (all of the harness's
    when none are named)."""
    have = set(names) if names else credentials(harness.settings)
    return targets.startup(harness.services.db, have, harness.time())


def cron(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    slack: FakeSlack | None = None,
) -> int:
    """`sla-bot ARGV` from cron, against the harness's store, with a Slack token or none."""
    s = harness.settings
    monkeypatch.setenv("GITHUB_APP_ID", str(s.github_app_id))
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", s.private_key())
    monkeypatch.setenv("GITHUB_API_URL", s.github_api_url)
    monkeypatch.setenv("DATABASE_URL", s.database_url)
    if slack is None:
        monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SLACK_BOT_TOKEN", str(slack.token))
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    return main(list(argv))


def delivered(harness: Harness, data: dict[str, object]) -> None:
    """A delivery processed by a `serve` without Slack (its Slack effects are not waited for:
    nothing here sends them)."""
    assert harness.deliver("issues", data, wait=False).status_code == 202
    deadline = monotonic() + 10
    while harness.services.db.tx(queue.busy, [tables.deliveries], harness.time()):
        assert monotonic() < deadline, "the delivery was not processed in time"
        sleep(0.01)


def breach_alerts(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.messages if "breached" in (m.text or "").lower()]


def test_operator_who_never_set_a_slack_token_gets_a_clean_sweep_and_the_alert_recorded_not_sent(
    without_slack: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert started(without_slack) == []  # nothing to warn about: Slack was never used
    assert without_slack.services.db.tx(meta.targets) == {outbox.GITHUB: without_slack.time()}
    mock_writes(without_slack)
    delivered(without_slack, opened())
    capsys.readouterr()
    assert cron(without_slack, monkeypatch, "sweep", "--now", BREACHED) == 0
    out, err = capsys.readouterr()
    assert "1 breached" in out and "2 not sent (target not used)" in out  # + the intake post
    assert "owed" not in err
    assert without_slack.services.db.tx(outbox.owed, [outbox.SLACK]) == {}
    assert cron(without_slack, monkeypatch, "deliveries", "--failed") == 0
    listed = capsys.readouterr().out
    assert "slack breach" in listed and "not-sent after 0 attempt(s)" in listed
    assert "this deployment does not use Slack (not configured: SLACK_BOT_TOKEN)" in listed


def test_operator_who_adds_slack_later_gets_the_next_alerts_and_not_the_old_ones(
    without_slack: Harness,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started(without_slack)
    mock_writes(without_slack)
    delivered(without_slack, opened())  # Friday 16:30: due Monday 09:30
    mock_writes(without_slack, 8)
    monday = opened(issue__number=8, issue__created_at="2026-11-30T08:00:00Z")  # due 10:00
    delivered(without_slack, monday)
    assert cron(without_slack, monkeypatch, "sweep", "--now", BREACHED) == 0  # #7: not sent
    lines = started(without_slack, outbox.GITHUB, outbox.SLACK)  # restarted with the token
    assert lines == [
        (
            logging.INFO,
            "Slack: used by this deployment from now on (SLACK_BOT_TOKEN is set); 0 Slack "
            "alerts decided before were recorded not sent",
        )
    ]
    capsys.readouterr()
    later = "2026-11-30T10:01:00+01:00"
    assert cron(without_slack, monkeypatch, "sweep", "--now", later, slack=fake_slack) == 0
    alerts = breach_alerts(fake_slack)
    assert len(alerts) == 1 and "#8" in alerts[0]  # the new breach; #7's is not sent late


def test_operator_who_adds_slack_while_a_page_waits_gets_no_stale_page_at_start_up(
    without_slack: Harness,
) -> None:
    started(without_slack)
    mock_writes(without_slack)
    delivered(without_slack, opened_problem("All end users"))
    pending = without_slack.services.db.tx(outbox.owed, [outbox.SLACK])
    lines = started(without_slack, outbox.GITHUB, outbox.SLACK)
    assert f"{pending.get(outbox.SLACK, 0)} Slack alerts decided before" in lines[0][1]
    assert without_slack.services.db.tx(outbox.owed, [outbox.SLACK]) == {}


def test_operator_who_removes_the_slack_token_is_told_at_start_up_and_by_every_sweep(
    harness: Harness,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started(harness)  # Slack used from the first start
    lines = started(harness, outbox.GITHUB)  # restarted without SLACK_BOT_TOKEN
    assert [level for level, _ in lines] == [logging.WARNING]
    assert "this deployment has used Slack since 2026-11-27 15:30 UTC" in lines[0][1]
    assert "`sla-bot targets --remove slack`" in lines[0][1]
    assert outbox.SLACK in (harness.services.db.tx(meta.targets) or {})  # not turned off
    mock_writes(harness)
    harness.deliver("issues", opened())
    capsys.readouterr()
    assert cron(harness, monkeypatch, "sweep", "--now", BREACHED) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("sla-bot:")] == [
        "sla-bot: 1 Slack alerts owed and not sent: SLACK_BOT_TOKEN is not set in this process "
        "(this deployment uses Slack); they stay pending until a process that has it (serve) "
        "sends them"
    ]
    assert cron(harness, monkeypatch, "targets", "--remove", "slack") == 0
    assert "1 pending effects recorded not sent" in capsys.readouterr().out
    assert cron(harness, monkeypatch, "sweep", "--now", BREACHED) == 0
    assert not breach_alerts(fake_slack)


def test_a_replica_started_without_the_slack_token_leaves_slack_on_for_the_others(
    harness: Harness, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    started(harness)
    started(harness, outbox.GITHUB)  # the replica with an incomplete environment
    mock_writes(harness)
    harness.deliver("issues", opened())
    assert cron(harness, monkeypatch, "sweep", "--now", BREACHED, slack=fake_slack) == 0
    assert len(breach_alerts(fake_slack)) == 1


def test_operator_who_lists_the_targets_sees_what_is_used_since_when(
    without_slack: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cron(without_slack, monkeypatch, "targets") == 0
    assert "not recorded yet" in capsys.readouterr().out
    started(without_slack)
    assert cron(without_slack, monkeypatch, "targets") == 0
    assert capsys.readouterr().out.splitlines() == [
        "github: used since 2026-11-27 15:30 UTC; 0 effects pending",
        "slack: not used (SLACK_BOT_TOKEN): effects recorded not sent",
        "pagerduty: not used (PAGERDUTY_ROUTING_KEY): effects recorded not sent",
    ]
    assert cron(without_slack, monkeypatch, "targets", "--remove", "pagerduty") == 1


def test_serve_started_without_a_slack_token_records_github_only_and_says_nothing_about_slack(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    process, port = serve_logged(
        tmp_path,
        GITHUB_APP_ID=fake_github.app_id,
        GITHUB_PRIVATE_KEY=str(fake_github.private_key_pem),
        GITHUB_API_URL=fake_github.api_url,
    )
    try:
        deadline = monotonic() + 30
        while monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            sleep(0.1)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")  # serve_logged's store
    with engine.connect() as conn:
        used = meta.targets(conn)
    engine.dispose()
    assert used is not None and list(used) == [outbox.GITHUB], err
    assert "targets --remove" not in err  # Slack was never used: nothing to warn about
