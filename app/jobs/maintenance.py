"""Periodic upkeep in `serve`: find missed deliveries, reconcile every repository now and then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from app.github.app import GitHubApp
from app.jobs.redeliver import find_missed
from app.logs import failure
from app.sla import keys
from app.store import jobs, repos, retention
from app.store.database import Database
from app.store.jobs import JobKind

log = logging.getLogger(__name__)
# At start, look this far back for deliveries that never reached us (GitHub keeps 3 days).
FIRST_LOOKBACK = timedelta(days=1)
# Seconds between purges of rows past SLA_RETENTION_DAYS (with the other upkeep, when sooner).
RETENTION_EVERY = 3600.0


def plan_reconcile(conn: Connection, now: datetime, every: float) -> int:
    """One reconcile per repository per period, however many replicas plan it."""
    period = int(now.timestamp() // every)
    planned = 0
    for repo, installation_id in repos.active(conn):
        key = keys.key("periodic", JobKind.RECONCILE, repo, period)
        planned += jobs.reconcile(conn, installation_id, repo, key=key, now=now)
    return planned


class Maintenance:
    def __init__(
        self,
        *,
        db: Database,
        github: GitHubApp | None,
        time: Callable[[], datetime],
        redeliver_every: float,
        reconcile_every: float,
        retention_days: int = 0,
    ) -> None:
        self._db = db
        self._github = github
        self._time = time
        # Both need GitHub; without it only the retention runs.
        self._redeliver_every = redeliver_every if github is not None else 0.0
        self._reconcile_every = reconcile_every if github is not None else 0.0
        self._retention = timedelta(days=retention_days)
        self._checked: datetime | None = None

    async def run_once(self) -> None:
        now = self._time()
        if self._redeliver_every > 0 and self._github is not None:
            margin = timedelta(seconds=2 * self._redeliver_every)
            since = now - FIRST_LOOKBACK if self._checked is None else self._checked - margin
            await find_missed(self._github, self._db, since, now)
            self._checked = now
        if self._reconcile_every > 0:
            await self._db.run(plan_reconcile, now, self._reconcile_every)
        if self._retention:
            await self.purge(now)

    async def purge(self, now: datetime) -> int:
        """Delete processed deliveries, finished effects and finished jobs older than the
        retention, a small batch per transaction (never clocks: the report reads them).
        Returns how many."""
        before, deleted = now - self._retention, 0
        for purge in (retention.purge_deliveries, retention.purge_effects, retention.purge_jobs):
            while (count := await self._db.run(purge, before)) > 0:
                deleted += count
                if count < retention.BATCH:
                    break
        if deleted:
            log.info("retention: deleted %d rows older than %s", deleted, before.date())
        return deleted

    async def loop(self) -> None:
        every = min(
            x for x in (self._redeliver_every, self._reconcile_every, RETENTION_EVERY) if x > 0
        )
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # GitHub down: try again next time
                failure(log, "maintenance failed; retrying next interval", exc)
            await asyncio.sleep(every)
