"""A PostgreSQL restart drops every connection the pool holds (issue 25): the next click and
the next delivery still succeed, on a fresh connection, without a 500 or a 503."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.store import make_engine, migrate
from app.store.database import Database
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.factories import PD_SECRET, SIGNING_SECRET, SUNDAY_3AM, click, opened, opened_problem
from tests.harness import REPO, GitHubMock, Harness, MovableTime, mock_writes

pytestmark = pytest.mark.postgres


@pytest.fixture
def named_url(pg_schema_url: str) -> str:
    """The test's schema, its connections named so that only they are terminated (other
    suites may share the server)."""
    return f"{pg_schema_url}&application_name=sla-bot-{uuid.uuid4().hex[:12]}"


def terminate(url: str) -> int:
    """What a database restart does to the app's pool: every backend of it is gone."""
    name = url.rsplit("application_name=", 1)[1]
    admin = create_engine(url.split("?")[0].replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(killed)


def test_a_transaction_after_the_connections_were_killed_runs_on_a_fresh_one(
    named_url: str,
) -> None:
    engine = make_engine(named_url)
    migrate(engine)
    db = Database(engine)
    try:
        assert db.tx(lambda conn: conn.execute(text("SELECT 1")).scalar_one()) == 1
        assert terminate(named_url) >= 1
        assert db.tx(lambda conn: conn.execute(text("SELECT 2")).scalar_one()) == 2
    finally:
        db.close()
        engine.dispose()


@pytest.fixture
def on_postgres(
    named_url: str,
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> Iterator[Harness]:
    time.now = SUNDAY_3AM
    with Harness(
        database_url=named_url,
        github=github,
        slack=fake_slack,
        time=time,
        private_key=app_key,
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
        pagerduty_webhook_secret=PD_SECRET,
    ) as harness:
        mock_writes(harness)
        mock_writes(harness, 8)
        harness.github.route("PATCH", f"/repos/{REPO}/issues/7").respond(200, json={})
        yield harness


def test_after_a_database_restart_the_next_click_and_delivery_succeed(
    on_postgres: Harness, named_url: str, pagerduty: FakePagerDuty
) -> None:
    on_postgres.deliver("issues", opened_problem("All end users"))
    assert terminate(named_url) >= 1
    on_postgres.time.advance(minutes=5)
    assert click(on_postgres, "acknowledge").status_code == 200
    on_postgres.wait_idle()
    assert on_postgres.clocks()[0].state == "met"
    assert [i.status for i in pagerduty.incidents] == ["acknowledged"]
    assert terminate(named_url) >= 1
    delivered = on_postgres.deliver("issues", opened(issue__number=8), delivery="after-restart")
    assert delivered.status_code == 202
    assert [c.state for c in on_postgres.clocks(8)] == ["running"]
