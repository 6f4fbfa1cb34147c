"""Several replicas on one database: two sweepers racing send every alert exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from app.standins import FakeSlack
from app.store import clocks
from app.store.database import Database

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=3)


def breached_clocks(conn: Connection, count: int) -> None:
    for number in range(1, count + 1):
        clocks.start(
            conn, installation_id=1, repo="acme/support", issue_number=number,
            kind="response", priority="urgent", request_type="problem", started_at=START,
            due_at=START + timedelta(hours=1), issue_title=f"Request {number}",
            issue_url=f"https://github.com/acme/support/issues/{number}", issue_author="wile-e",
        )  # fmt: skip


def sweeper(database_url: str, slack: FakeSlack) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_API_URL": slack.api_url,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sweep", "--now", NOW.isoformat()],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_sweepers_racing_over_100_breaches_send_exactly_100_alerts(
    db: Database, database_url: str, fake_slack: FakeSlack
) -> None:
    db.tx(breached_clocks, 100)
    racers = [sweeper(database_url, fake_slack) for _ in range(2)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    alerts = [m for m in fake_slack.messages if "breached" in m.text.lower()]
    per_issue = Counter(m.text.split("#")[1].split()[0] for m in alerts)
    assert len(alerts) == 100 and set(per_issue.values()) == {1}
    breached = sum(int(out.split(" breached")[0].rsplit(" ", 1)[1]) for out, _ in outputs)
    assert breached == 100  # each clock moved to breached by exactly one of them
    assert len(db.tx(clocks.due, NOW)) == 0
