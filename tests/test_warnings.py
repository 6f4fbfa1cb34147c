"""Early warnings: at `warn_at` of the target, in open hours only for business priorities."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sla_sandbox.standins import FakeSlack
from tests.factories import PROD, opened
from tests.harness import GitHubMock, Harness, MovableTime, mock_writes, with_policy

POLICY = """
priorities:
  production-down: {warn_at: 0.5}
  urgent: {warn_at: 0.75}
"""


@pytest.fixture
def warned(
    tmp_path: Path, github: GitHubMock, fake_slack: FakeSlack, time: MovableTime, app_key: str
) -> Iterator[Harness]:
    with with_policy(POLICY, tmp_path, github, fake_slack, time, app_key) as running:
        yield running


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def warnings(slack: FakeSlack) -> list[object]:
    return [m for m in slack.messages if "due soon" in m.text.lower()]


def test_a_business_warning_waits_for_open_hours_then_goes_once(
    warned: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = at("2026-11-27T16:50:05+01:00")
    mock_writes(warned)
    warned.deliver("issues", opened(issue__created_at="2026-11-27T15:50:00Z"))
    # 45 of 60 open minutes: 10 on Friday, 35 on Monday -> Monday 09:35.
    assert warned.clocks()[0].warn_at == at("2026-11-30T09:35:00+01:00")
    assert warned.sweep(at("2026-11-27T23:00:00+01:00")).warned == 0
    assert warned.sweep(at("2026-11-30T09:36:00+01:00")).warned == 1
    assert warned.sweep(at("2026-11-30T09:40:00+01:00")).warned == 0
    assert len(warnings(fake_slack)) == 1


def test_no_midnight_ping_for_a_business_priority(
    warned: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = at("2026-11-27T16:10:05+01:00")
    mock_writes(warned)
    warned.deliver("issues", opened(issue__created_at="2026-11-27T15:10:00Z"))
    (clock_row,) = warned.clocks()
    assert clock_row.warn_at == at("2026-11-27T16:55:00+01:00")
    assert clock_row.due_at == at("2026-11-30T09:10:00+01:00")
    # The Friday 16:55 warning was missed (no sweep ran then): at night it waits...
    assert warned.sweep(at("2026-11-28T00:30:00+01:00")).warned == 0
    assert warned.sweep(at("2026-11-30T08:55:00+01:00")).warned == 0
    # ...and once the clock has breached, a warning is pointless: only the breach goes out.
    result = warned.sweep(at("2026-11-30T09:11:00+01:00"))
    assert (result.breached, result.warned) == (1, 0)
    assert warnings(fake_slack) == []


def test_production_down_warns_at_night(
    warned: Harness, fake_slack: FakeSlack, time: MovableTime
) -> None:
    time.now = at("2026-11-29T03:00:05+01:00")
    mock_writes(warned)
    warned.deliver("issues", opened("problem", PROD, issue__created_at="2026-11-29T02:00:00Z"))
    assert warned.sweep(at("2026-11-29T03:16:00+01:00")).warned == 1
    (warning,) = warnings(fake_slack)
    assert warning.channel == "#on-call"  # type: ignore[attr-defined]
