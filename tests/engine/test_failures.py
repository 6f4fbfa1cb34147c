"""Each row of the three classification tables (GitHub, Slack, PagerDuty), as sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from gidgethub import BadRequest, GitHubBroken, InvalidField, RateLimitExceeded
from gidgethub.sansio import RateLimit

from app.engine import failures
from app.engine.failures import Kind
from app.notify.pagerduty import PagerDutyError
from app.notify.slack import NotifyError

NOW = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)


def github_error(status: int, message: str = "", **headers: str) -> BadRequest:
    exc = BadRequest(status, message) if status != 422 else InvalidField([], message)
    exc.headers = headers
    return exc


def github(exc: Exception) -> failures.Verdict:
    return failures.classify(exc, NOW)


def test_a_primary_rate_limit_waits_until_githubs_reset_and_a_second() -> None:
    reset = int((NOW + timedelta(minutes=10)).timestamp())
    limit = RateLimit(limit=5000, remaining=0, reset_epoch=reset)
    exc = RateLimitExceeded(limit)
    assert github(exc) == failures.Verdict(Kind.RETRY_AFTER, timedelta(minutes=10, seconds=1))


@pytest.mark.parametrize("status", [403, 429])
def test_a_named_retry_after_is_waited_in_full(status: int) -> None:
    verdict = github(github_error(status, "secondary rate limit", **{"retry-after": "600"}))
    assert verdict == failures.Verdict(Kind.RETRY_AFTER, timedelta(seconds=600))


def test_no_requests_remaining_waits_until_the_reset_header() -> None:
    reset = str(int((NOW + timedelta(seconds=30)).timestamp()))
    exc = github_error(403, "x", **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    assert github(exc).wait == timedelta(seconds=31)


@pytest.mark.parametrize(
    ("status", "message"), [(429, "slow down"), (403, "You have exceeded a secondary rate limit")]
)
def test_a_rate_limit_that_names_no_time_waits_a_minute(status: int, message: str) -> None:
    assert github(github_error(status, message)) == failures.Verdict(
        Kind.RETRY_AFTER, timedelta(minutes=1)
    )


def test_a_github_outage_is_transient() -> None:
    assert github(GitHubBroken(502, "Server Error")).kind is Kind.TRANSIENT


@pytest.mark.parametrize(
    "exc",
    [aiohttp.ClientConnectionError("refused"), aiohttp.ServerDisconnectedError(), TimeoutError()],
)
def test_no_connection_or_no_answer_in_time_is_transient(exc: Exception) -> None:
    assert github(exc).kind is Kind.TRANSIENT


@pytest.mark.parametrize("status", [401, 403, 408, 409])
def test_a_refused_token_a_missing_permission_or_a_conflict_is_transient(status: int) -> None:
    assert github(github_error(status, "Resource not accessible by integration")).kind is (
        Kind.TRANSIENT
    )


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_any_other_client_error_from_github_is_permanent(status: int) -> None:
    assert github(github_error(status, "Not Found")).kind is Kind.PERMANENT


@pytest.mark.parametrize("exc", [ValueError("no such effect"), KeyError("labels"), TypeError()])
def test_a_bug_in_an_effect_is_permanent(exc: Exception) -> None:
    assert failures.classify(exc, NOW).kind is Kind.PERMANENT


def test_what_no_row_names_is_transient() -> None:
    assert failures.classify(RuntimeError("surprise"), NOW).kind is Kind.TRANSIENT


def test_each_error_is_judged_by_the_table_of_the_service_that_answered() -> None:
    assert failures.target_of(NotifyError("x")) == "slack"
    assert failures.target_of(PagerDutyError("x")) == "pagerduty"
    assert failures.target_of(github_error(404)) == "github"
    assert failures.target_of(TimeoutError()) == "github"


def slack(**fields: Any) -> failures.Verdict:
    return failures.classify(NotifyError("slack failed", **fields), NOW)


def test_slacks_rate_limit_waits_its_retry_after() -> None:
    assert slack(status=429, retry_after=30.0, error="ratelimited") == failures.Verdict(
        Kind.RETRY_AFTER, timedelta(seconds=30)
    )


def test_slacks_rate_limit_without_retry_after_waits_a_second() -> None:
    assert slack(status=429).wait == timedelta(seconds=1)


@pytest.mark.parametrize("code", ["channel_not_found", "invalid_auth", "not_in_channel"])
def test_a_slack_error_a_retry_cannot_change_is_permanent(code: str) -> None:
    assert slack(status=200, error=code).kind is Kind.PERMANENT


@pytest.mark.parametrize(
    "code", ["thread_not_found", "message_not_found", "user_not_found", "already_reacted"]
)
def test_a_thing_slack_says_is_gone_is_permanent(code: str) -> None:
    assert slack(status=200, error=code).kind is Kind.PERMANENT


def test_a_slack_timeout_without_an_error_code_is_transient() -> None:
    assert slack(status=408).kind is Kind.TRANSIENT


@pytest.mark.parametrize(
    ("fields", "gives_up"),
    [({"status": 200, "error": "missing_scope"}, True), ({"status": 503}, False), ({}, False)],
)
def test_a_caller_can_ask_whether_slacks_answer_is_final(
    fields: dict[str, Any], gives_up: bool
) -> None:
    assert failures.gives_up(NotifyError("slack failed", **fields)) is gives_up


def test_a_slack_client_error_without_an_error_code_is_permanent() -> None:
    assert slack(status=404).kind is Kind.PERMANENT


@pytest.mark.parametrize(
    "fields", [{"status": 200, "error": "internal_error"}, {"status": 503}, {}]
)
def test_a_slack_outage_or_an_unreachable_slack_is_transient(fields: dict[str, Any]) -> None:
    assert slack(**fields).kind is Kind.TRANSIENT


def pagerduty(**fields: Any) -> failures.Verdict:
    return failures.classify(PagerDutyError("pagerduty refused", **fields), NOW)


def test_an_event_pagerduty_calls_invalid_is_permanent() -> None:
    assert pagerduty(status=400).kind is Kind.PERMANENT


def test_a_pagerduty_answer_with_retry_after_waits_that_long() -> None:
    assert pagerduty(status=429, retry_after=20.0) == failures.Verdict(
        Kind.RETRY_AFTER, timedelta(seconds=20)
    )


@pytest.mark.parametrize("status", [429, 500, None])
def test_a_pagerduty_rate_limit_outage_or_silence_is_transient(status: int | None) -> None:
    assert pagerduty(status=status).kind is Kind.TRANSIENT
