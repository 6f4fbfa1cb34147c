"""The gidgethub client over aiohttp: pinned API version, brief in-process retries of what
is safe to repeat (stamina), rate limits left to the caller to reschedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import aiohttp
import gidgethub.aiohttp
import stamina
from gidgethub import GitHubBroken, HTTPException

from app.engine import tuning
from app.github.http import Session

API_VERSION = "2022-11-28"
USER_AGENT = "sla-bot"
MAX_ATTEMPTS = 3  # a connection error or 5xx on a safe request: retried at once, briefly

Observer = Callable[[str, int | None, Mapping[str, str]], None]
# Nothing was sent: any request may go again.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


class GitHubClient(gidgethub.aiohttp.GitHubAPI):
    """One installation's (or the App's) view of the REST API over the shared session."""

    def __init__(
        self,
        http: Session,
        *,
        base_url: str,
        oauth_token: str | None = None,
        cache: Any = None,
        observe: Observer | None = None,
    ) -> None:
        tuning.gidgethub_urls()
        super().__init__(
            http.session(), USER_AGENT, oauth_token=oauth_token, cache=cache, base_url=base_url
        )
        self._http = http
        self._observe = observe

    async def _make_request(self, *args: Any, **kwargs: Any) -> Any:
        method, url = args[0], args[1]
        retry = partial(retryable, safe=idempotent(method, url))
        try:
            return await super()._make_request(*args, **kwargs)
        except Exception as exc:
            if not retry(exc):
                raise
            failed: Exception | None = exc
        # Only a failed first attempt builds stamina's retry state: building it for every
        # request cost more CPU than the request's own HTTP work (bench/RESULTS.md, section
        # 14). The first failure is handed to stamina as its first attempt, so it waits and
        # counts.
        async for attempt in stamina.retry_context(
            on=retry, attempts=MAX_ATTEMPTS, timeout=None, wait_initial=0.1, wait_max=0.5
        ):
            with attempt:
                if failed is not None:
                    first, failed = failed, None
                    raise first
                return await super()._make_request(*args, **kwargs)
        raise AssertionError("unreachable")

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "x-github-api-version": API_VERSION}
        try:
            # Not gidgethub's own, which lets aiohttp follow redirects: a transferred issue's
            # 301 must reach gidgethub (RedirectionException; reconcile follows it itself).
            status, answer, content = await self._http.request(method, url, headers, body)
        except (aiohttp.ClientError, TimeoutError):
            self._note(method, None, {})
            raise
        self._note(method, status, answer)
        return status, answer, content

    def _note(self, method: str, status: int | None, headers: Mapping[str, str]) -> None:
        if self._observe is not None:
            self._observe(method, status, headers)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        """Never slept through here: the outbox reschedules a rate limit (app/engine/failures.py)
        and moves on, so one limited installation holds up nobody else."""
        return False


def retryable(exc: Exception, *, safe: bool) -> bool:
    """Worth trying again at once: GitHub never got the request, or it was safe to repeat
    and GitHub failed (5xx) or the answer was lost. A write whose answer was lost is left to
    the outbox, which checks whether it happened before repeating it."""
    if isinstance(exc, NOT_SENT):
        return True
    return safe and isinstance(exc, GitHubBroken | aiohttp.ClientError | TimeoutError)


def idempotent(method: str, url: str) -> bool:
    """Safe to send twice: reads, PUT/DELETE, and adding labels (a set union)."""
    return method in ("GET", "HEAD", "PUT", "DELETE") or (
        method == "POST" and url.split("?")[0].endswith("/labels")
    )
