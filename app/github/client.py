"""The gidgethub client: pinned API version, retries with backoff, rate limits honoured."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from gidgethub import BadRequest, GitHubBroken, HTTPException, RateLimitExceeded
from gidgethub.abc import GitHubAPI

from app.engine import tuning
from app.github.http import Session, send

API_VERSION = "2022-11-28"
USER_AGENT = "sla-bot"
MAX_ATTEMPTS = 3  # a connection error or 5xx on a safe request: retried at once, briefly

Sleep = Callable[[float], Awaitable[None]]
Observer = Callable[[str, int | None, Mapping[str, str]], None]


class GitHubClient(GitHubAPI):
    """One installation's (or the App's) view of the REST API over a shared httpx client."""

    def __init__(
        self,
        client: Session | httpx.AsyncClient,
        *,
        base_url: str,
        oauth_token: str | None = None,
        cache: Any = None,
        sleep: Sleep = asyncio.sleep,
        observe: Observer | None = None,
    ) -> None:
        tuning.gidgethub_urls()
        self._client = client
        super().__init__(USER_AGENT, oauth_token=oauth_token, cache=cache, base_url=base_url)
        self._sleep = sleep
        self._observe = observe

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "x-github-api-version": API_VERSION}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                status, response_headers, content = await send(
                    self._client, method, url, headers, body
                )
            except httpx.TransportError as exc:
                self._note(method, None, {})
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt == MAX_ATTEMPTS or (sent and not idempotent(method, url)):
                    raise
                await self.sleep(backoff(attempt))
                continue
            self._note(method, status, response_headers)
            return status, response_headers, content
        raise AssertionError("unreachable")

    def _note(self, method: str, status: int | None, headers: Mapping[str, str]) -> None:
        if self._observe is not None:
            self._observe(method, status, headers)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        """Retry only a 5xx on a safe request, after a short backoff. A rate limit is never
        slept through here: the caller reschedules the work (`rate_limit_wait`) and moves on,
        so one limited installation holds up nobody else."""
        if attempt >= MAX_ATTEMPTS or not isinstance(exception, GitHubBroken):
            return False
        if not idempotent(method, url):
            return False  # a 5xx may follow a write that happened: the outbox checks first
        await self.sleep(backoff(attempt))
        return True


def idempotent(method: str, url: str) -> bool:
    """Safe to send twice: reads, PUT/DELETE, and adding labels (a set union)."""
    return method in ("GET", "HEAD", "PUT", "DELETE") or (
        method == "POST" and url.split("?")[0].endswith("/labels")
    )


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 1, 2, 4, 8 ... seconds."""
    return float(random.uniform(0, 2 ** (attempt - 1)))


def rate_limit_wait(exc: BaseException, now: datetime) -> float | None:
    """Seconds to wait before GitHub accepts more from this installation, or None when `exc`
    is not a rate limit. `retry-after` of any length is honoured.

    https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
    """
    if isinstance(exc, RateLimitExceeded):
        reset: datetime = exc.rate_limit.reset_datetime
        return max(0.0, (reset - now).total_seconds()) + 1.0
    if not isinstance(exc, BadRequest) or exc.status_code not in (403, 429):
        return None
    headers: Mapping[str, str] = getattr(exc, "headers", None) or {}
    retry_after = (headers.get("retry-after") or "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)
        return max(0.0, (reset - now).total_seconds()) + 1.0
    if exc.status_code == 429 or "rate limit" in str(exc).lower():
        return 60.0  # GitHub: "wait for at least one minute before retrying"
    return None
