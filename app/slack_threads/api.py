"""The Slack Web API calls a request from Slack needs (slack-sdk's async client): the message,
who wrote it, its permalink, the ✅ reaction. Errors are NotifyError, as the outbox expects.

https://docs.slack.dev/reference/methods/conversations.replies (a thread's first message is
the parent), chat.getPermalink, reactions.add, users.info (team_id: the user's workspace)
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.engine import failures
from app.notify.slack import SLACK_API_URL
from app.notify.slack_errors import NotifyError, retry_after

GONE = frozenset({"message_not_found", "thread_not_found", "channel_not_found"})


class SlackApi:
    """One client; slack-sdk opens a session per call (these calls are few: one request's
    opening, one reply's author)."""

    def __init__(self, token: str, base_url: str = SLACK_API_URL, timeout: float = 10) -> None:
        self._token = token.strip()
        self._client = AsyncWebClient(
            token=self._token, base_url=base_url, timeout=math.ceil(timeout), retry_handlers=[]
        )
        if urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}:
            self._client.proxy = None  # slack-sdk applies HTTPS_PROXY and ignores NO_PROXY

    async def _call(self, method: str, call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        try:
            resp = await call()
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            data = exc.response.data
            code = data.get("error") if isinstance(data, dict) else None
            raise NotifyError(
                f"slack {method} failed: {code or 'no error code'} (HTTP {status})",
                retry_after=retry_after(exc.response.headers or {}),
                error=code,
                status=status,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotifyError(f"slack unreachable: {type(exc).__name__}") from None
        return dict(resp.data) if isinstance(resp.data, dict) else {}

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message at `ts` (None: deleted, or never there)."""
        try:
            data = await self._call(
                "conversations.replies",
                lambda: self._client.conversations_replies(
                    channel=channel, ts=ts, limit=1, inclusive=True
                ),
            )
        except NotifyError as exc:
            if exc.error in GONE:
                return None
            raise
        return next((m for m in data.get("messages") or [] if m.get("ts") == ts), None)

    async def user(self, user: str) -> dict[str, Any]:
        """Who `user` is ({} when Slack does not know them: their id stands in)."""
        try:
            data = await self._call("users.info", lambda: self._client.users_info(user=user))
        except NotifyError as exc:
            if exc.error in ("user_not_found", "users_not_found"):
                return {}
            raise
        return dict(data.get("user") or {})

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            data = await self._call(
                "chat.getPermalink",
                lambda: self._client.chat_getPermalink(channel=channel, message_ts=ts),
            )
        except NotifyError as exc:
            if failures.gives_up(exc):
                return None  # the issue is still opened, without the link
            raise
        return str(data.get("permalink") or "") or None

    async def react(self, channel: str, ts: str, name: str) -> None:
        try:
            await self._call(
                "reactions.add",
                lambda: self._client.reactions_add(channel=channel, timestamp=ts, name=name),
            )
        except NotifyError as exc:
            if exc.error != "already_reacted":  # a retry whose first answer was lost
                raise

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """A modal, for the click that gave `trigger_id` (it expires 3 s after the click)."""
        await self._call(
            "views.open", lambda: self._client.views_open(trigger_id=trigger_id, view=view)
        )


def display_name(user: dict[str, Any], fallback: str) -> str:
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return fallback
