"""Where a repository's policy comes from: its own file, the org's .github repo, the default."""

from __future__ import annotations

import json
import logging

import pytest

from tests.harness import REPO, Harness
from tests.webhooks.test_intake import mock_writes, opened


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


def test_a_broken_policy_falls_back_and_says_where(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.github.files[REPO] = "timezone: Mars/Olympus\n"
    mock_writes(harness)
    with caplog.at_level(logging.WARNING, logger="app.policies"):
        harness.deliver("issues", opened())
    assert "(Europe/Amsterdam)" in intake_comment(harness)  # the built-in default
    (record,) = [r for r in caplog.records if r.name == "app.policies"]
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
