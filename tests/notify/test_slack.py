"""SlackNotifier against FakeSlack over real loopback HTTP, and LogNotifier."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from app.notify.slack import (
    LogNotifier,
    Notifier,
    NotifyError,
    Posted,
    SlackNotifier,
    build_notifier,
)
from app.standins import FAKE_TOKEN, FakeSlack

pytestmark = pytest.mark.anyio

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]


def make_notifier(base_url: str, token: str = FAKE_TOKEN) -> SlackNotifier:
    # No backoff between retries: the tests check what is retried, not how long it waits.
    return SlackNotifier(
        token, base_url, timeout=5, retry_interval=FixedValueRetryIntervalCalculator(0)
    )


@pytest.fixture
async def notifier(fake_slack: FakeSlack) -> AsyncIterator[SlackNotifier]:
    notifier = make_notifier(fake_slack.api_url)
    yield notifier
    await notifier.aclose()


async def test_post_returns_channel_and_ts(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    posted = await notifier.post(channel="#support", text="fallback", blocks=BLOCKS)

    assert posted == Posted(channel="#support", ts="1700000000.000100")
    [message] = fake_slack.messages
    assert (message.channel, message.text, message.blocks) == ("#support", "fallback", BLOCKS)
    [call] = fake_slack.calls
    assert call.method == "chat.postMessage"
    assert call.token == FAKE_TOKEN
    assert call.body["unfurl_links"] is False


async def test_thread_ts_is_passed(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    parent = await notifier.post(channel="#support", text="breach")
    reply = await notifier.post(channel=parent.channel, text="late", thread_ts=parent.ts)

    assert reply.ts != parent.ts
    assert [m.thread_ts for m in fake_slack.messages] == [None, parent.ts]


async def test_server_error_once_is_retried(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next(500)

    posted = await notifier.post(channel="#support", text="hi")

    assert posted.ts == fake_slack.messages[0].ts
    assert len(fake_slack.messages) == 1
    assert len(fake_slack.calls) == 2


async def test_rate_limit_is_waited_out(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit_next(retry_after=0)

    await notifier.post(channel="#support", text="hi")

    assert len(fake_slack.messages) == 1
    assert len(fake_slack.calls) == 2


async def test_long_rate_limit_is_left_to_the_caller(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit_next(retry_after=120)
    started = time.monotonic()

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#support", text="hi")

    assert time.monotonic() - started < 2
    assert caught.value.retry_after == 120
    assert caught.value.error == "ratelimited"
    assert not caught.value.permanent
    assert fake_slack.messages == []


async def test_persistent_server_error_is_not_permanent(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next(503, times=5)

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#support", text="hi")

    assert not caught.value.permanent
    assert caught.value.status == 503
    assert caught.value.retry_after is None
    assert len(fake_slack.calls) == 2  # one retry by default
    assert fake_slack.messages == []


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_blocks"])
async def test_configuration_errors_are_permanent(
    notifier: SlackNotifier, fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.error_next(error)

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#nowhere", text="hi")

    assert caught.value.permanent
    assert caught.value.error == error
    assert error in str(caught.value)
    assert len(fake_slack.calls) == 1


async def test_unknown_slack_error_is_retryable(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    fake_slack.error_next("internal_error")

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#support", text="hi")

    assert not caught.value.permanent


async def test_token_never_leaks_into_errors_or_logs(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "xoxb-secret-1234567890"
    notifier = make_notifier(fake_slack.api_url, token=secret)
    try:
        with pytest.raises(NotifyError) as wrong_token:  # FakeSlack expects FAKE_TOKEN
            await notifier.post(channel="#support", text="hi", blocks=BLOCKS)
        fake_slack.fail_next(500, times=2)
        with pytest.raises(NotifyError) as server_error:
            await notifier.post(channel="#support", text="hi", blocks=BLOCKS)
        errors = [wrong_token.value, server_error.value]
    finally:
        await notifier.aclose()

    assert errors[0].error == "invalid_auth" and errors[0].permanent
    assert fake_slack.calls[0].token == secret  # it was sent, so it could have leaked
    assert caplog.records, "expected slack-sdk debug records to check"
    for error in errors:
        assert secret not in str(error) and secret not in repr(error.args)
        assert error.__cause__ is None and error.__suppress_context__
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in str(vars(record))


async def test_unreachable_slack_is_not_permanent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    notifier = make_notifier(f"http://127.0.0.1:{port}/api/")
    try:
        with pytest.raises(NotifyError, match="slack unreachable") as caught:
            await notifier.post(channel="#support", text="hi")
    finally:
        await notifier.aclose()

    assert not caught.value.permanent
    assert caught.value.status is None


async def test_log_notifier_logs_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.notify")
    notifier: Notifier = LogNotifier()

    first = await notifier.post(channel="#support", text="SLA breached", blocks=BLOCKS)
    second = await notifier.post(channel="#support", text="late", thread_ts=first.ts)
    await notifier.aclose()

    assert first == Posted(channel="#support", ts="log.1")
    assert second.ts == "log.2"
    records = [r for r in caplog.records if r.name == "app.notify"]
    assert [r.getMessage() for r in records] == [
        "slack alert (log only, no token): SLA breached",
        "slack alert (log only, no token): late",
    ]
    assert records[1].__dict__["thread_ts"] == "log.1"
    assert records[0].__dict__["channel"] == "#support"


def test_build_notifier_picks_by_token() -> None:
    assert isinstance(build_notifier(None), LogNotifier)
    assert isinstance(build_notifier("  "), LogNotifier)
    assert isinstance(build_notifier("xoxb-1"), SlackNotifier)


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        SlackNotifier(" ")
