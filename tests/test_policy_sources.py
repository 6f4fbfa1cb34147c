"""Where a repository's policy comes from: its own file, the org's .github repo, the default."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from sla_sandbox.standins import FakeSlack
from tests.factories import opened
from tests.harness import INSTALLATION, REPO, Harness, MovableTime, mock_writes


def intake_comment(harness: Harness) -> str:
    calls = [c for c in harness.github.calls() if c.request.url.path.endswith("/comments")]
    return str(json.loads(calls[-1].request.content)["body"])


def test_the_repositorys_own_policy_counts(harness: Harness) -> None:
    harness.github.files[REPO] = "timezone: America/New_York\n"
    harness.github.files["acme/.github"] = "timezone: Asia/Tokyo\n"
    mock_writes(harness)
    harness.deliver("issues", opened())  # Fri 10:30 in New York: due 11:30 the same day
    assert "Fri 27 Nov 2026, 11:30 EST (America/New_York)" in intake_comment(harness)


def test_the_orgs_policy_is_the_fallback(harness: Harness) -> None:
    harness.github.files["acme/.github"] = "timezone: America/New_York\n"
    mock_writes(harness)
    harness.deliver("issues", opened())
    assert "(America/New_York)" in intake_comment(harness)


def test_the_repos_file_merges_over_the_orgs_key_by_key(harness: Harness) -> None:
    harness.github.files["acme/.github"] = (
        "timezone: America/New_York\nholidays:\n  dates: ['2026-11-27']\n"
    )
    harness.github.files[REPO] = "slack:\n  channel: '#acme-support'\n"
    mock_writes(harness)
    harness.deliver("issues", opened())  # Friday the 27th is the org's holiday, in New York
    comment = intake_comment(harness)
    assert "Mon 30 Nov 2026, 10:00 EST (America/New_York)" in comment
    policy = harness.services.policies
    merged = asyncio.run(policy.get(INSTALLATION, REPO))
    assert (merged.timezone, merged.slack.channel) == ("America/New_York", "#acme-support")


def test_a_broken_file_keeps_its_last_good_version_and_tells_the_admins_once(
    harness: Harness, fake_slack: FakeSlack, time: MovableTime, caplog: pytest.LogCaptureFixture
) -> None:
    harness.github.files["acme/.github"] = "timezone: Asia/Tokyo\n"
    harness.github.files[REPO] = "timezone: America/New_York\n"
    mock_writes(harness)
    harness.deliver("issues", opened())
    assert "(America/New_York)" in intake_comment(harness)
    harness.github.files[REPO] = "timezone: America/New_York\nresponders: [oops]\n"
    with caplog.at_level(logging.WARNING, logger="app.github.policies"):
        for number in (8, 9):  # two more requests, each after the policy cache expired
            time.advance(minutes=11)
            mock_writes(harness, number)
            harness.deliver("issues", opened(issue__number=number))
            assert "(America/New_York)" in intake_comment(harness)  # not Tokyo, not Amsterdam
    warnings = [m for m in fake_slack.messages if "policy" in (m.text or "")]
    assert len(warnings) == 1 and "acme/support:.github/sla.yml:2: responders" in warnings[0].text
    assert warnings[0].channel == "#support"
    logged = [r for r in caplog.records if r.name == "app.github.policies"]
    assert len(logged) == 2 and "sla.yml:2: responders" in logged[0].problems  # type: ignore[attr-defined]


def test_a_broken_file_never_seen_good_falls_back_to_the_level_below(harness: Harness) -> None:
    harness.github.files["acme/.github"] = "timezone: America/Chicago\n"
    harness.github.files[REPO] = "timezone: Mars/Olympus\n"
    mock_writes(harness)
    harness.deliver("issues", opened())
    assert "(America/Chicago)" in intake_comment(harness)  # the org's, not the built-ins


def test_a_broken_policy_falls_back_and_says_where(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.github.files[REPO] = "timezone: Mars/Olympus\n"
    mock_writes(harness)
    with caplog.at_level(logging.WARNING, logger="app.github.policies"):
        harness.deliver("issues", opened())
    assert "(Europe/Amsterdam)" in intake_comment(harness)  # the built-in default
    (record,) = [r for r in caplog.records if r.name == "app.github.policies"]
    assert "acme/support:.github/sla.yml:1: timezone" in record.problems  # type: ignore[attr-defined]


def test_the_policy_is_read_once_and_cached(harness: Harness) -> None:
    mock_writes(harness)
    harness.deliver("issues", opened())
    harness.deliver("issues", opened())
    reads = [c for c in harness.github.calls(setup=True) if "/contents/" in c.request.url.path]
    assert len(reads) == 2  # the repo's file and the org's, once each


def test_slack_channel_sets_the_default_alert_channel(tmp_path: object) -> None:
    from app.config import Settings
    from app.services import fallback_policy

    assert fallback_policy(Settings(slack_channel="#help")).slack.channel == "#help"
    assert fallback_policy(Settings()).slack.channel == "#support"


def test_while_github_answers_502_a_request_gets_the_policy_last_read(
    harness: Harness, time: MovableTime
) -> None:
    harness.github.files[REPO] = "timezone: America/New_York\n"
    mock_writes(harness)
    harness.deliver("issues", opened())
    time.advance(minutes=11)  # the cached policy is due to be read again
    harness.github.router.routes["policy"].mock(return_value=httpx.Response(502))
    mock_writes(harness, 8)
    response = harness.deliver("issues", opened(issue__number=8), delivery="during-outage")
    assert response.status_code == 202
    assert harness.github.router.routes["policy"].calls.last.response.status_code == 502
    assert "(America/New_York)" in intake_comment(harness)  # its own, not the built-in one
    delivery = harness.delivery("during-outage")
    assert delivery is not None and delivery.status == "done"
