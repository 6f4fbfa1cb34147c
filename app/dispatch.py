"""Send the outbox: each effect claimed by one worker, recorded sent only once it took."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from gidgethub import BadRequest, GitHubBroken, HTTPException, RateLimitExceeded

from app import effects
from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.notify.slack import Notifier, NotifyError
from app.reconcile import Reconciler
from app.redeliver import REDELIVER, ask_redelivery
from app.store import outbox
from app.store.database import Database
from app.store.outbox import Item

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12


class Retry(Exception):
    """Not now: try again after `delay` (a parent message not sent yet, no credentials)."""

    def __init__(self, message: str, delay: timedelta) -> None:
        super().__init__(message)
        self.delay = delay


class Dispatcher:
    """Executes outbox items against GitHub and Slack."""

    def __init__(
        self,
        *,
        db: Database,
        github: GitHubApp | None,
        notifier: Notifier,
        owner: str,
        clock: Callable[[], datetime],
        on_result: Callable[[Item, str], None] | None = None,
        reconciler: Reconciler | None = None,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._db = db
        self._github = github
        self._notifier = notifier
        self.owner = owner
        self._clock = clock
        self._on_result = on_result
        self.reconciler = reconciler
        self._lease = lease
        self._draining = asyncio.Lock()

    async def drain(self) -> int:
        """Send every ready item once; returns how many were sent.

        Claims, leases and retry times run on the process clock, never on an evaluation time
        such as `sweep --now`: a lease taken "as of" the past would already be expired for
        every other worker.
        """
        sent = 0
        async with self._draining:  # one drain at a time: claims are per owner
            while batch := await self._db.run(
                outbox.claim_ready, owner=self.owner, now=self._clock(), lease=self._lease
            ):
                for item in batch:
                    sent += await self._send(item)
        return sent

    async def _send(self, item: Item) -> bool:
        try:
            if item.target == outbox.SLACK:
                result = await self._slack(item)
            elif item.kind == effects.RECONCILE:
                result = await self._reconcile(item)
            elif item.kind == REDELIVER:
                if self._github is None:
                    raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
                await ask_redelivery(self._github, item.payload["id"])
                result = {}
            else:
                result = await self._github_effect(item)
        except Exception as exc:
            retry_at = self._retry_at(item, exc, self._clock())
            await self._db.run(
                outbox.mark_retry,
                item.id,
                owner=self.owner,
                error=_describe(exc),
                retry_at=retry_at,
            )
            outcome = "retry" if retry_at else "dead"
            log.warning(
                "effect %s",
                outcome,
                extra={"key": item.key, "error": _describe(exc), "attempts": item.attempts},
            )
            self._note(item, outcome)
            return False
        await self._db.run(
            outbox.mark_sent, item.id, owner=self.owner, now=self._clock(), result=result
        )
        log.info(
            "effect sent", extra={"key": item.key, "repo": item.repo, "issue": item.issue_number}
        )
        self._note(item, "sent")
        return True

    def _note(self, item: Item, outcome: str) -> None:
        if self._on_result is not None:
            self._on_result(item, outcome)

    def _retry_at(self, item: Item, exc: Exception, now: datetime) -> datetime | None:
        if isinstance(exc, Retry):
            return now + exc.delay
        if item.attempts >= MAX_ATTEMPTS or _permanent(exc):
            return None
        delay = timedelta(seconds=min(3600, 5 * 2 ** (item.attempts - 1)))
        if isinstance(exc, NotifyError) and exc.retry_after:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        if isinstance(exc, RateLimitExceeded):
            delay = max(delay, exc.rate_limit.reset_datetime - now)
        return now + delay

    async def _slack(self, item: Item) -> dict[str, Any]:
        payload = item.payload
        thread_ts = None
        if payload.get("thread_of"):
            parent = await self._db.run(outbox.by_key, payload["thread_of"])
            if parent is not None and parent.status == outbox.PENDING:
                raise Retry("the thread's first message is not sent yet", timedelta(seconds=5))
            if parent is not None and parent.result:
                thread_ts = parent.result.get("ts")
        posted = await self._notifier.post(
            channel=payload["channel"],
            text=payload["text"],
            blocks=payload.get("blocks"),
            thread_ts=thread_ts,
        )
        return {"channel": posted.channel, "ts": posted.ts}

    async def _reconcile(self, item: Item) -> dict[str, Any]:
        if self.reconciler is None or item.installation_id is None or item.repo is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        return dict(await self.reconciler.repo(item.installation_id, item.repo, self._clock()))

    async def _github_effect(self, item: Item) -> dict[str, Any]:
        if self._github is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        if item.installation_id is None or item.repo is None:
            raise ValueError("effect without installation or repository")
        repo, number, payload = item.repo, item.issue_number or 0, item.payload

        async def act(gh: GitHubClient) -> dict[str, Any]:
            if item.kind == effects.ADD_LABELS:
                await ops.add_labels(gh, repo, number, payload["labels"])
            elif item.kind == effects.ENSURE_LABELS:
                created = await ops.ensure_labels(gh, repo, [tuple(s) for s in payload["labels"]])
                return {"created": created}
            elif item.kind == effects.COMMENT:
                # A retry may follow a post that succeeded before its record: look first.
                if item.attempts > 1:
                    found = await ops.find_comment(gh, repo, number, payload["marker"])
                    if found is not None:
                        return {"id": found}
                data = await ops.comment(gh, repo, number, payload["body"])
                return {"id": data.get("id"), "url": data.get("html_url")}
            else:
                raise ValueError(f"unknown effect kind {item.kind!r}")
            return {}

        return await self._github.call(item.installation_id, act, write=True)


def _permanent(exc: Exception) -> bool:
    """Errors a retry cannot fix: a 4xx that is neither auth, rate limit nor conflict."""
    if isinstance(exc, NotifyError):
        return exc.permanent
    if isinstance(exc, GitHubBroken | RateLimitExceeded | httpx.TransportError):
        return False
    if isinstance(exc, BadRequest):
        return exc.status_code not in (401, 403, 408, 409, 429)
    if isinstance(exc, HTTPException):
        return False
    return isinstance(exc, ValueError | KeyError | TypeError)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]
