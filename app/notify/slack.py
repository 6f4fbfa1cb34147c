"""Posting alerts to Slack: the Notifier protocol, the slack-sdk client and a log-only stand-in."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger("app.notify")

SLACK_API_URL = "https://slack.com/api/"

# Errors that retrying cannot fix: configuration, permissions or a malformed message.
# Anything else (internal_error, fatal_error, request_timeout, unknown codes) is retried.
# https://docs.slack.dev/reference/methods/chat.postMessage#errors
PERMANENT_ERRORS = frozenset(
    {
        "access_denied", "account_inactive", "channel_not_found", "ekm_access_denied",
        "invalid_arguments", "invalid_auth", "invalid_blocks", "invalid_blocks_format",
        "is_archived", "message_not_found", "missing_scope", "msg_blocks_too_long",
        "msg_too_long", "no_permission", "no_text", "not_allowed_token_type", "not_authed",
        "not_in_channel", "org_login_required", "restricted_action", "team_access_not_granted",
        "token_expired", "token_revoked", "too_many_attachments",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Posted:
    """Where Slack put a message: `channel` as Slack answered it (an id) and its `ts`."""

    channel: str
    ts: str


class NotifyError(Exception):
    """A post that failed; `permanent` says retrying is pointless, `retry_after` when to."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        error: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.error = error
        self.status = status


class Notifier(Protocol):
    """What the sweep needs from Slack."""

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted: ...

    async def aclose(self) -> None: ...


class _BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Sleeps out one 429, unless Slack asks for longer than `max_wait`.

    A long wait would stall the whole sweep; the outbox reschedules from `retry_after` instead.
    """

    def __init__(self, max_wait: float) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is None or wait <= self.max_wait


class SlackNotifier:
    """Posts through slack-sdk's AsyncWebClient; one aiohttp session, closed by `aclose`."""

    def __init__(
        self,
        token: str,
        base_url: str = SLACK_API_URL,
        timeout: float = 10,
        *,
        server_retries: int = 1,
        rate_limit_max_wait: float = 10,
        retry_interval: RetryIntervalCalculator | None = None,
    ) -> None:
        if not token.strip():
            raise ValueError("SlackNotifier needs a bot token (SLACK_BOT_TOKEN); use LogNotifier")
        interval = retry_interval or BackoffRetryIntervalCalculator()
        handlers: list[AsyncRetryHandler] = [
            AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=interval),
            AsyncServerErrorRetryHandler(
                max_retry_count=server_retries, interval_calculator=interval
            ),
            _BoundedRateLimitRetry(rate_limit_max_wait),
        ]
        self._token = token.strip()
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._client = AsyncWebClient(
            token=self._token,
            base_url=base_url,
            timeout=math.ceil(timeout),
            retry_handlers=handlers,
        )
        if urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}:
            # slack-sdk applies HTTPS_PROXY from the environment and ignores NO_PROXY.
            self._client.proxy = None

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        if self._session is None or self._session.closed:
            # Created here, inside the running loop, not in __init__ (which may run outside one).
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
            self._client.session = self._session
        try:
            resp = await self._client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,  # the alert already shows what a GitHub unfurl would
                unfurl_media=False,
            )
        except SlackApiError as exc:
            raise self._api_error(exc) from None  # the cause holds request headers: the token
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"slack unreachable: {type(exc).__name__}: {exc}"
            raise NotifyError(self._scrub(message)) from None
        logger.debug("slack message posted", extra={"channel": channel, "ts": resp["ts"]})
        return Posted(channel=str(resp.get("channel") or channel), ts=str(resp["ts"]))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _api_error(self, exc: SlackApiError) -> NotifyError:
        status = int(exc.response.status_code)
        data = exc.response.data
        code = data.get("error") if isinstance(data, dict) else None
        retry_after = _retry_after(exc.response.headers or {})
        client_fault = 400 <= status < 500 and status not in (408, 429)
        permanent = code in PERMANENT_ERRORS or (code is None and client_fault)
        message = f"slack chat.postMessage failed: {code or 'no error code'} (HTTP {status})"
        return NotifyError(
            self._scrub(message),
            retry_after=retry_after,
            permanent=permanent,
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
    ) -> Posted:
        ts = f"log.{next(self._count)}"
        extra = {"channel": channel, "ts": ts, "thread_ts": thread_ts, "alert_text": text}
        logger.info("slack alert (log only, no token): %s", text, extra=extra)
        return Posted(channel=channel, ts=ts)

    async def aclose(self) -> None:
        return None


def build_notifier(token: str | None, base_url: str = SLACK_API_URL) -> Notifier:
    """A SlackNotifier when a token is set, else a LogNotifier."""
    return SlackNotifier(token, base_url) if token and token.strip() else LogNotifier()


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None  # an HTTP-date; Slack sends seconds
    return None
