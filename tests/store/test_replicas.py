"""Several replicas on one database: sweepers racing each other and a running `serve` send
every alert exactly once, whatever evaluation time `sweep --now` is given."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Connection

from app.store import clocks
from app.store.database import Database
from app.time_source import system_time
from sla_sandbox.standins import FakeSlack
from tests import processes
from tests.harness import free_port


def breached_clocks(conn: Connection, count: int, start: datetime) -> None:
    for number in range(1, count + 1):
        clocks.start(
            conn,
            installation_id=1,
            repo="acme/support",
            issue_number=number,
            kind="response",
            priority="urgent",
            request_type="problem",
            started_at=start,
            due_at=start + timedelta(hours=1),
            issue_title=f"Request {number}",
            issue_url=f"https://github.com/acme/support/issues/{number}",
            issue_author="wile-e",
        )


def environment(database_url: str, slack: FakeSlack) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.token or "",
        "SLACK_API_URL": slack.api_url,
        "LOG_LEVEL": "WARNING",
        "GITHUB_WEBHOOK_SECRET": "replica-test-secret",
        "SLA_SWEEP_INTERVAL": "0.25",
        "SLA_REDELIVER_INTERVAL": "0",
        "SLA_RECONCILE_INTERVAL": "0",
    }
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH"):
        env.pop(name, None)
    return env


def sweeper(env: dict[str, str], now: datetime) -> subprocess.Popen[str]:
    return processes.Popen(
        [sys.executable, "-m", "app.cli.main", "sweep", "--now", now.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def alerts(slack: FakeSlack) -> Counter[str]:
    found = [m for m in slack.messages if "breached" in (m.text or "").lower()]
    return Counter(m.text.split("#")[1].split()[0] for m in found if m.text)


@pytest.mark.slow
def test_serve_and_two_past_sweeps_racing_over_100_breaches_send_exactly_100_alerts(
    db: Database, database_url: str, fake_slack: FakeSlack
) -> None:
    # Everything here runs on the machine's clock: `serve` sweeps every 0.25 s on it, and the
    # two `sweep --now` runs evaluate 10 minutes in the past (their leases must not be).
    now = system_time()
    db.tx(breached_clocks, 100, now - timedelta(hours=3))
    env = environment(database_url, fake_slack)
    server, url = serve(env)
    try:
        racers = [sweeper(env, now - timedelta(minutes=10)) for _ in range(2)]
        outputs = [racer.communicate(timeout=120) for racer in racers]
        assert [racer.returncode for racer in racers] == [0, 0], outputs
        deadline = time.monotonic() + 60
        while sum(alerts(fake_slack).values()) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.6)  # two more of serve's sweeps: a duplicate would show up now
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(10)
    per_issue = alerts(fake_slack)
    assert len(per_issue) == 100 and set(per_issue.values()) == {1}
    assert len(db.tx(clocks.due, now)) == 0
