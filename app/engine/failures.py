"""What a failed send means, one table per target (GitHub, Slack, PagerDuty): permanent (give
up), retry after (the service named a wait: rescheduled, the attempt not counted), or
transient (the stored backoff). The table is the one of the service that answered (an effect
for one target may call another: a Slack thread's issue is opened on GitHub); the first row
that applies decides; no row: transient."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import aiohttp
from gidgethub import BadRequest, GitHubBroken, RateLimitExceeded

from app.notify.pagerduty import PagerDutyError
from app.notify.slack_errors import PERMANENT_ERRORS, NotifyError
from app.store.outbox import GITHUB, PAGERDUTY, SLACK

# GitHub: "wait for at least one minute before retrying" when it names no time.
# https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
UNNAMED_LIMIT = timedelta(minutes=1)


class Kind(StrEnum):
    PERMANENT = "permanent"
    RETRY_AFTER = "retry after"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    wait: timedelta | None = None  # for RETRY_AFTER: at least a second


def permanent(_exc: Exception, _now: datetime) -> Verdict:
    return Verdict(Kind.PERMANENT)


def transient(_exc: Exception, _now: datetime) -> Verdict:
    return Verdict(Kind.TRANSIENT)


def retry_after(seconds: float) -> Verdict:
    return Verdict(Kind.RETRY_AFTER, timedelta(seconds=max(1.0, seconds)))


@dataclass(frozen=True)
class Row:
    """One rule: `when` in words, `applies` to an error, `decide` its verdict at a time."""

    when: str
    applies: Callable[[Exception], bool]
    decide: Callable[[Exception, datetime], Verdict]


# -- GitHub --


def _headers(exc: Exception) -> Mapping[str, str]:
    return getattr(exc, "headers", None) or {}


def _limited(exc: Exception) -> bool:
    return isinstance(exc, BadRequest) and exc.status_code in (403, 429)


def _retry_after_named(exc: Exception) -> bool:
    return _limited(exc) and (_headers(exc).get("retry-after") or "").strip().isdigit()


def _nothing_left(exc: Exception) -> bool:
    headers = _headers(exc)
    return (
        _limited(exc)
        and headers.get("x-ratelimit-remaining") == "0"
        and bool(headers.get("x-ratelimit-reset"))
    )


def _until(reset: datetime, now: datetime) -> Verdict:
    return retry_after(max(0.0, (reset - now).total_seconds()) + 1.0)


def _reset_header(exc: Exception, now: datetime) -> Verdict:
    return _until(datetime.fromtimestamp(int(_headers(exc)["x-ratelimit-reset"]), UTC), now)


def _rate_limit_reset(exc: Exception, now: datetime) -> Verdict:
    assert isinstance(exc, RateLimitExceeded)
    reset: datetime = exc.rate_limit.reset_datetime
    return _until(reset, now)


def _unnamed_limit(exc: Exception) -> bool:
    return _limited(exc) and (
        getattr(exc, "status_code", None) == 429 or "rate limit" in str(exc).lower()
    )


def _status_in(*codes: int) -> Callable[[Exception], bool]:
    return lambda exc: isinstance(exc, BadRequest) and exc.status_code in codes


def _bug(exc: Exception) -> bool:
    return isinstance(exc, ValueError | KeyError | TypeError)


UNREACHABLE = (aiohttp.ClientError, TimeoutError)
BUG = Row("a bug in the effect (ValueError, KeyError, TypeError) is permanent", _bug, permanent)

GITHUB_TABLE = (
    Row(
        "a primary rate limit (403, nothing remaining) waits until GitHub's reset",
        lambda exc: isinstance(exc, RateLimitExceeded),
        _rate_limit_reset,
    ),
    Row(
        "a 403 or 429 with Retry-After waits that many seconds",
        _retry_after_named,
        lambda exc, _now: retry_after(float(_headers(exc)["retry-after"].strip())),
    ),
    Row(
        "a 403 or 429 with x-ratelimit-remaining 0 waits until x-ratelimit-reset",
        _nothing_left,
        _reset_header,
    ),
    Row(
        "a 429, or a 403 naming a rate limit, waits a minute",
        _unnamed_limit,
        lambda _exc, _now: retry_after(UNNAMED_LIMIT.total_seconds()),
    ),
    Row("a 5xx is transient", lambda exc: isinstance(exc, GitHubBroken), transient),
    Row(
        "no connection, or no answer in time, is transient",
        lambda exc: isinstance(exc, UNREACHABLE),
        transient,
    ),
    Row(
        "a refused token (401), a missing permission (403), 408 or 409 is transient",
        _status_in(401, 403, 408, 409),
        transient,
    ),
    Row("any other 4xx is permanent", lambda exc: isinstance(exc, BadRequest), permanent),
    BUG,
)

# -- Slack --


def _slack(exc: Exception) -> NotifyError | None:
    return exc if isinstance(exc, NotifyError) else None


def _slack_limited(exc: Exception) -> bool:
    return (found := _slack(exc)) is not None and found.status == 429


def _slack_wait(exc: Exception, _now: datetime) -> Verdict:
    assert isinstance(exc, NotifyError)
    return retry_after(exc.retry_after or 0.0)


def _slack_refused(exc: Exception) -> bool:
    found = _slack(exc)
    return found is not None and found.error in PERMANENT_ERRORS


def _slack_client_fault(exc: Exception) -> bool:
    found = _slack(exc)
    status = (found.status or 0) if found is not None else 0
    return found is not None and found.error is None and 400 <= status < 500 and status != 408


SLACK_TABLE = (
    Row("Slack's rate limit (429) waits its Retry-After", _slack_limited, _slack_wait),
    Row(
        "an error code a retry cannot change (channel_not_found, invalid_auth, "
        "thread_not_found ...) is permanent",
        _slack_refused,
        permanent,
    ),
    Row("a 4xx without an error code is permanent", _slack_client_fault, permanent),
)

# -- PagerDuty --


def _pagerduty(exc: Exception) -> PagerDutyError | None:
    return exc if isinstance(exc, PagerDutyError) else None


def _pd_wait(exc: Exception, _now: datetime) -> Verdict:
    assert isinstance(exc, PagerDutyError) and exc.retry_after is not None
    return retry_after(exc.retry_after)


PAGERDUTY_TABLE = (
    Row(
        "an event PagerDuty calls invalid (400) is permanent",
        lambda exc: (found := _pagerduty(exc)) is not None and found.status == 400,
        permanent,
    ),
    Row(
        "an answer with Retry-After waits that long",
        lambda exc: (found := _pagerduty(exc)) is not None and found.retry_after is not None,
        _pd_wait,
    ),
)

TABLES: dict[str, tuple[Row, ...]] = {
    GITHUB: GITHUB_TABLE,
    SLACK: SLACK_TABLE,
    PAGERDUTY: PAGERDUTY_TABLE,
}


def target_of(exc: Exception) -> str:
    """The service whose answer `exc` is: Slack's and PagerDuty's clients raise their own
    errors; gidgethub's, aiohttp's and the rest are GitHub's table."""
    if isinstance(exc, NotifyError):
        return SLACK
    if isinstance(exc, PagerDutyError):
        return PAGERDUTY
    return GITHUB


def row_for(exc: Exception) -> Row | None:
    """The row that decides `exc`, or None (transient)."""
    return next((row for row in TABLES[target_of(exc)] if row.applies(exc)), None)


def classify(exc: Exception, now: datetime) -> Verdict:
    """What `exc` at `now` means (see the tables above)."""
    row = row_for(exc)
    return Verdict(Kind.TRANSIENT) if row is None else row.decide(exc, now)


def gives_up(exc: Exception) -> bool:
    """Whether retrying `exc` is pointless (a permanent row decides it), for a caller that
    answers without the failed call instead (no permalink, a mention left as an id)."""
    row = row_for(exc)
    return row is not None and row.decide is permanent
