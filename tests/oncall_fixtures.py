"""The on-call fixtures every on-call test shares (a pytest plugin, loaded by conftest):
the served PagerDuty stand-in and a harness whose policy escalates, on a Sunday at 3 am."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.factories import PD_SECRET, SIGNING_SECRET, SUNDAY_3AM
from tests.harness import REPO, GitHubMock, Harness, MovableTime, mock_writes


@pytest.fixture(scope="session")
def _served_pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty()
    with fake.serve():
        yield fake


@pytest.fixture
def pagerduty(_served_pagerduty: FakePagerDuty) -> FakePagerDuty:
    _served_pagerduty.reset()
    return _served_pagerduty


@pytest.fixture
def oncall(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
    migrated_copy: Callable[[Path], str],
) -> Iterator[Harness]:
    policy = tmp_path / "sla.yml"
    policy.write_text("oncall:\n  escalate_to: [S0ONCALL]\n")
    time.now = SUNDAY_3AM
    with Harness(
        database_url=migrated_copy(tmp_path / "oncall.db"),
        github=github,
        slack=fake_slack,
        time=time,
        private_key=app_key,
        sla_policy_file=policy,
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
        pagerduty_webhook_secret=PD_SECRET,
    ) as harness:
        mock_writes(harness)
        harness.github.route("PATCH", f"/repos/{REPO}/issues/7").respond(200, json={})
        yield harness
