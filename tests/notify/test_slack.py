"""SlackNotifier against FakeSlack over real loopback HTTP, and LogNotifier."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.engine.failures import gives_up
from app.notify.slack import (
    LogNotifier,
    Notifier,
    NotifyError,
    Posted,
    SlackNotifier,
    build_notifier,
)
from app.notify.slack_directory import Directory
from sla_sandbox.standins import FAKE_TOKEN, FakeSlack
from tests.harness import MovableTime, free_port

pytestmark = pytest.mark.anyio

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)  # FakeSlack's ts values are from 2023


def make_notifier(base_url: str, token: str = FAKE_TOKEN, timeout: float = 5) -> SlackNotifier:
    return SlackNotifier(token, base_url, timeout=timeout)


@pytest.fixture
async def notifier(fake_slack: FakeSlack) -> AsyncIterator[SlackNotifier]:
    notifier = make_notifier(fake_slack.api_url)
    yield notifier
    await notifier.aclose()


async def test_post_returns_channel_and_ts(
    notifier: SlackNotifier, fake_slack: FakeSlack, time: MovableTime
) -> None:
    posted = await notifier.post(channel="#support", text="fallback", blocks=BLOCKS)
    stamp = int(time().timestamp())

    [message] = fake_slack.messages
    assert posted == Posted(channel=message.channel_id, ts=f"{stamp}.000100")
    assert posted.channel.startswith("C")  # Slack answers with the channel's id
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


async def test_nothing_is_retried_in_line(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    """A 5xx, a 429 or a dropped answer goes back to the outbox, which reschedules and looks
    before posting again; slack-sdk's own retries could post a message twice."""
    fake_slack.fail_next(500)
    with pytest.raises(NotifyError) as server_error:
        await notifier.post(channel="#support", text="hi")
    fake_slack.rate_limit_next(retry_after=120)
    with pytest.raises(NotifyError) as limited:
        await notifier.post(channel="#support", text="hi")

    assert len(fake_slack.calls) == 2 and fake_slack.messages == []
    assert (server_error.value.status, gives_up(server_error.value)) == (500, False)
    assert (limited.value.status, limited.value.retry_after) == (429, 120)
    assert limited.value.error == "ratelimited" and not gives_up(limited.value)


async def test_a_stalled_answer_is_an_error_and_the_post_can_be_found(
    fake_slack: FakeSlack,
) -> None:
    notifier = make_notifier(fake_slack.api_url, timeout=0.5)
    fake_slack.accept_then_stall(2.0)
    try:
        with pytest.raises(NotifyError, match="unreachable"):
            await notifier.post(channel="#support", text="page", key="slack:page:clock:1")
        [message] = fake_slack.messages  # Slack took it; the answer never came
        found = await notifier.find(channel="#support", key="slack:page:clock:1", since=LONG_AGO)
        other = await notifier.find(channel="#support", key="slack:page:clock:2", since=LONG_AGO)
    finally:
        await notifier.aclose()

    assert found == Posted(channel=message.channel_id, ts=message.ts)
    assert other is None
    assert [c.method for c in fake_slack.calls] == [
        "chat.postMessage",
        "conversations.list",
        "conversations.history",
        "conversations.history",
    ]
    assert fake_slack.calls[2].body["include_all_metadata"] in (True, "1", "true")


async def test_thread_replies_are_found_in_their_thread(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    parent = await notifier.post(channel="#support", text="breach", key="k:breach")
    await notifier.post(channel="#support", text="late", thread_ts=parent.ts, key="k:late")

    in_thread = await notifier.find(
        channel="#support", key="k:late", since=LONG_AGO, thread_ts=parent.ts
    )
    top = await notifier.find(channel="#support", key="k:late", since=LONG_AGO)

    assert in_thread is not None and in_thread.ts == fake_slack.messages[1].ts
    assert top is None  # replies are not in the channel's history, as in Slack


async def test_persistent_server_error_is_not_permanent(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next(503, times=5)

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#support", text="hi")

    assert not gives_up(caught.value)
    assert caught.value.status == 503
    assert caught.value.retry_after is None
    assert len(fake_slack.calls) == 1  # the outbox retries, later
    assert fake_slack.messages == []


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "invalid_blocks"])
async def test_configuration_errors_are_permanent(
    notifier: SlackNotifier, fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.error_next(error)

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#nowhere", text="hi")

    assert gives_up(caught.value)
    assert caught.value.error == error
    assert error in str(caught.value)
    assert len(fake_slack.calls) == 1


async def test_unknown_slack_error_is_retryable(
    notifier: SlackNotifier, fake_slack: FakeSlack
) -> None:
    fake_slack.error_next("internal_error")

    with pytest.raises(NotifyError) as caught:
        await notifier.post(channel="#support", text="hi")

    assert not gives_up(caught.value)


async def test_token_never_leaks_into_errors_or_logs(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "xoxb-secret-1234567890"
    notifier = make_notifier(fake_slack.api_url, token=secret)
    try:
        with pytest.raises(NotifyError) as wrong_token:  # FakeSlack expects FAKE_TOKEN
            await notifier.post(channel="#support", text="hi", blocks=BLOCKS)
        fake_slack.fail_next(500)
        with pytest.raises(NotifyError) as server_error:
            await notifier.post(channel="#support", text="hi", blocks=BLOCKS)
        errors = [wrong_token.value, server_error.value]
    finally:
        await notifier.aclose()

    assert errors[0].error == "invalid_auth" and gives_up(errors[0])
    assert fake_slack.calls[0].token == secret  # it was sent, so it could have leaked
    assert caplog.records, "expected slack-sdk debug records to check"
    for error in errors:
        assert secret not in str(error) and secret not in repr(error.args)
        assert error.__cause__ is None and error.__suppress_context__
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in str(vars(record))


async def test_unreachable_slack_is_not_permanent() -> None:
    port = free_port()  # closed again: nothing listens there
    notifier = make_notifier(f"http://127.0.0.1:{port}/api/")
    try:
        with pytest.raises(NotifyError, match="slack unreachable") as caught:
            await notifier.post(channel="#support", text="hi")
    finally:
        await notifier.aclose()

    assert not gives_up(caught.value)
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


@pytest.mark.anyio
async def test_the_workspace_its_groups_and_its_users_are_asked_as_slack_documents(
    notifier: SlackNotifier, fake_slack: FakeSlack, time: MovableTime
) -> None:
    """auth.test names the workspace; usergroups.users.list and users.info answer what
    Slack answers, errors included; the directory asks each once per 5 minutes."""
    fake_slack.add_user("U0DANA")
    fake_slack.add_user("U0GUS", guest=True)
    fake_slack.add_user("U0SAM", team_id="T0ACME", stranger=True)
    fake_slack.add_group("S0ONCALL", ["U0DANA"])
    assert (await notifier.ask("auth.test"))["team_id"] == fake_slack.team_id
    assert (await notifier.ask("usergroups.users.list", usergroup="S0ONCALL"))["users"] == [
        "U0DANA"
    ]
    for method, args, error in [
        ("usergroups.users.list", {"usergroup": "S0NONE"}, "no_such_subteam"),
        ("users.info", {"user": "U0NOBODY"}, "user_not_found"),
    ]:
        with pytest.raises(NotifyError) as refused:
            await notifier.ask(method, **args)
        assert refused.value.error == error
    directory = Directory(notifier, time)
    assert await directory.team_id() == "T0"
    assert (await directory.member("U0GUS")).guest
    sam = await directory.member("U0SAM")
    assert (sam.team_id, sam.stranger, sam.guest) == ("T0ACME", True, False)
    fake_slack.add_group("S0ONCALL", ["U0DANA", "U0KIM"])
    assert await directory.group_members("S0ONCALL") == {"U0DANA", "U0KIM"}
    fake_slack.add_group("S0ONCALL", [])
    assert await directory.group_members("S0ONCALL") == {"U0DANA", "U0KIM"}  # cached
    time.advance(minutes=5)
    assert await directory.group_members("S0ONCALL") == frozenset()
    await directory.team_id()
    assert [c.method for c in fake_slack.calls].count("auth.test") == 2  # once by the directory
    with pytest.raises(NotifyError) as unconfigured:
        await LogNotifier().ask("auth.test")
    assert gives_up(unconfigured.value)
