"""Posting alerts to Slack: the Notifier protocol, the slack-sdk client and a log-only stand-in."""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.engine import failures
from app.notify.slack_errors import NotifyError as NotifyError
from app.notify.slack_errors import retry_after

logger = logging.getLogger("app.notify")

SLACK_API_URL = "https://slack.com/api/"
# Every alert carries its outbox key as message metadata, so a retry can find an earlier
# attempt that Slack accepted but whose answer was lost (Slack has no idempotency key).
# https://docs.slack.dev/messaging/message-metadata
EVENT_TYPE = "sla_bot_alert"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
HISTORY_PAGES = 5  # up to 1,000 messages back in a busy channel


@dataclass(frozen=True)
class Posted:
    """Where Slack put a message: `channel` as Slack answered it (an id) and its `ts`."""

    channel: str
    ts: str


class Notifier(Protocol):
    """What the sweep needs from Slack."""

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Posted: ...

    async def find(
        self, *, channel: str, key: str, since: datetime, thread_ts: str | None = None
    ) -> Posted | None:
        """The message posted earlier with this idempotency `key`, if Slack has it."""
        ...

    async def update(
        self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> Posted:
        """Edit a message in place (chat.update): the same text twice is harmless."""
        ...

    async def ask(self, method: str, **params: str) -> dict[str, Any]:
        """A read-only Web API method (`auth.test`, `usergroups.users.list`, `users.info`):
        its answer, or NotifyError."""
        ...

    async def aclose(self) -> None: ...


class SlackNotifier:
    """Posts through slack-sdk's AsyncWebClient; one aiohttp session, closed by `aclose`.

    No retry handlers: slack-sdk's default re-posts after a dropped connection, which can
    double a message Slack already took, and its rate-limit handler sleeps in line. Every
    failure goes back to the outbox, which reschedules and looks before it posts again.
    """

    def __init__(self, token: str, base_url: str = SLACK_API_URL, timeout: float = 10) -> None:
        if not token.strip():
            raise ValueError("SlackNotifier needs a bot token (SLACK_BOT_TOKEN); use LogNotifier")
        self._token = token.strip()
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._channel_ids: dict[str, str] = {}  # "#support" -> "C0123456", learned or looked up
        self._client = AsyncWebClient(
            token=self._token,
            base_url=base_url,
            timeout=math.ceil(timeout),
            retry_handlers=[],
        )
        if urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}:
            # slack-sdk applies HTTPS_PROXY from the environment and ignores NO_PROXY.
            self._client.proxy = None

    def _ensure_session(self) -> None:
        if self._session is None or self._session.closed:
            # Created here, inside the running loop, not in __init__ (which may run outside one).
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
            self._client.session = self._session

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Posted:
        self._ensure_session()
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": key}} if key else None
        try:
            resp = await self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                metadata=metadata,
                unfurl_links=False,  # the alert already shows what a GitHub unfurl would
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise self._api_error(exc, "chat.postMessage") from None  # the cause: the token
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"slack unreachable: {type(exc).__name__}: {exc}"
            raise NotifyError(self._scrub(message)) from None
        posted = Posted(channel=str(resp.get("channel") or channel), ts=str(resp["ts"]))
        self._channel_ids[channel] = posted.channel
        logger.debug("slack message posted", extra={"channel": channel, "ts": posted.ts})
        return posted

    async def update(
        self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> Posted:
        self._ensure_session()
        try:
            resp = await self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            raise self._api_error(exc, "chat.update") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"slack unreachable: {type(exc).__name__}: {exc}"
            raise NotifyError(self._scrub(message)) from None
        return Posted(channel=str(resp.get("channel") or channel), ts=str(resp.get("ts") or ts))

    async def find(
        self, *, channel: str, key: str, since: datetime, thread_ts: str | None = None
    ) -> Posted | None:
        """Look for the message tagged `key` (history needs `channels:history` and
        `groups:history`; naming a channel needs `channels:read` and `groups:read`).

        When Slack cannot be asked (a missing scope, say), the answer is None and the alert is
        posted again: an alert twice is better than an on-call engineer never paged.
        """
        self._ensure_session()
        try:
            channel_id = await self._channel_id(channel)
            if channel_id is None:
                logger.warning(
                    "slack channel not found for the duplicate check", extra={"channel": channel}
                )
                return None
            async for message in self._messages(channel_id, since, thread_ts):
                meta = message.get("metadata") or {}
                if meta.get("event_type") == EVENT_TYPE and (
                    (meta.get("event_payload") or {}).get("key") == key
                ):
                    return Posted(channel=channel_id, ts=str(message["ts"]))
        except SlackApiError as exc:
            error = self._api_error(exc, "history")
            if not failures.gives_up(error):
                raise error from None  # Slack is struggling: try again later, post nothing
            logger.warning("slack duplicate check unavailable: %s", error)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotifyError(self._scrub(f"slack unreachable: {type(exc).__name__}")) from None
        return None

    async def ask(self, method: str, **params: str) -> dict[str, Any]:
        self._ensure_session()
        try:
            resp = await self._client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as exc:
            raise self._api_error(exc, method) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotifyError(self._scrub(f"slack unreachable: {type(exc).__name__}")) from None
        return dict(resp.data) if isinstance(resp.data, dict) else {}

    async def _messages(
        self, channel_id: str, since: datetime, thread_ts: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        for _ in range(HISTORY_PAGES):
            args: dict[str, Any] = {
                "channel": channel_id,
                "oldest": f"{since.timestamp():.6f}",
                "limit": 200,
                "include_all_metadata": True,
                "cursor": cursor,
            }
            if thread_ts:
                resp = await self._client.conversations_replies(ts=thread_ts, **args)
            else:
                resp = await self._client.conversations_history(**args)
            for message in resp.get("messages") or []:
                yield message
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    async def _channel_id(self, channel: str) -> str | None:
        if CHANNEL_ID.match(channel):
            return channel
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        name, cursor = channel.lstrip("#"), None
        for _ in range(HISTORY_PAGES * 2):
            resp = await self._client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for found in resp.get("channels") or []:
                if found.get("name") == name:
                    self._channel_ids[channel] = str(found["id"])
                    return self._channel_ids[channel]
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _api_error(self, exc: SlackApiError, method: str) -> NotifyError:
        status = int(exc.response.status_code)
        data = exc.response.data
        code = data.get("error") if isinstance(data, dict) else None
        message = f"slack {method} failed: {code or 'no error code'} (HTTP {status})"
        return NotifyError(
            self._scrub(message),
            retry_after=retry_after(exc.response.headers or {}),
            error=code,
            status=status,
        )

    def _scrub(self, message: str) -> str:
        return message.replace(self._token, "[token]")


class LogNotifier:
    """Stands in when no token is set: logs each alert and pretends it was posted."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> Posted:
        ts = f"log.{next(self._count)}"
        extra = {"channel": channel, "ts": ts, "thread_ts": thread_ts, "alert_text": text}
        logger.info("slack alert (log only, no token): %s", text, extra=extra)
        return Posted(channel=channel, ts=ts)

    async def find(
        self, *, channel: str, key: str, since: datetime, thread_ts: str | None = None
    ) -> Posted | None:
        return None  # a log line cannot be lost in transit

    async def update(
        self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> Posted:
        logger.info(
            "slack update (log only, no token): %s",
            text,
            extra={"channel": channel, "ts": ts, "alert_text": text},
        )
        return Posted(channel=channel, ts=ts)

    async def ask(self, method: str, **params: str) -> dict[str, Any]:
        raise NotifyError(f"slack {method}: no SLACK_BOT_TOKEN", error="not_authed")

    async def aclose(self) -> None:
        return None


def build_notifier(token: str | None, base_url: str = SLACK_API_URL) -> Notifier:
    """A SlackNotifier when a token is set, else a LogNotifier."""
    return SlackNotifier(token, base_url) if token and token.strip() else LogNotifier()
