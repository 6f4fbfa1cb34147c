"""Run the jobs (reconciles, redeliveries): each claimed by one worker, run one at a time under
a heartbeat lease, retried on the outbox's schedule, kept dead with its error in the end."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from app.engine import backoff, failures, leases
from app.engine.dispatch import Retry
from app.engine.scheduler import Scheduler
from app.logs import failure
from app.store import jobs
from app.store.database import Database
from app.store.jobs import Job, JobKind, Run

log = logging.getLogger(__name__)

# Jobs claimed at once, in turns by installation, then run one at a time: a handful, so that
# a long reconcile keeps few others waiting on its claim (another replica takes the rest).
BATCH = 4
# The look for jobs nothing woke the runner for: retries come due, a periodic reconcile
# planned, a dead worker's claim lapsed.
POLL = 15.0


class JobRunner:
    """Claims due jobs of the kinds it has a run function for and runs them."""

    def __init__(
        self,
        *,
        db: Database,
        scheduler: Scheduler,
        time: Callable[[], datetime],
        owner: str,
        lease: timedelta,
        runs: Mapping[JobKind, Run],
        poll: float = POLL,
        on_result: Callable[[Job, str], None] | None = None,
    ) -> None:
        """`runs`: the run function of each kind this process can run (none without GitHub's
        credentials: its jobs are never claimed here and stay pending for one that can).
        `on_result`: told each outcome (done, retry, rate-limited, dead), for /metrics."""
        self._db = db
        self._scheduler = scheduler
        self._time = time
        self._owner = owner
        self._lease = lease
        self._runs = dict(runs)
        self.poll = poll
        self._on_result = on_result

    async def loop(self) -> None:
        """Run jobs whenever woken (a delivery processed may have planned one) or polled."""
        while True:
            await self._scheduler.jobs_due(self.poll)
            try:
                if await self.drain():
                    self._scheduler.wake_effects()  # what the jobs decided (a backfill's labels)
            except Exception as exc:  # the loop must outlive a database hiccup
                failure(log, "job runner failed; retrying at the next look", exc)

    async def drain(self) -> int:
        """Run every due job once (unless production-down work comes first); returns how
        many finished."""
        done = 0
        while self._runs and not self._scheduler.urgent_pending():
            token = leases.token(self._owner)
            batch = await self._db.run(
                jobs.claim_ready,
                owner=token,
                now=self._time(),
                lease=self._lease,
                kinds=sorted(self._runs),
                limit=BATCH,
            )
            if not batch:
                break

            async def renew(token: str = token) -> int:
                return await self._db.run(
                    jobs.renew, owner=token, now=self._time(), lease=self._lease
                )

            async with leases.heartbeat(renew, leases.beat_interval(self._lease)):
                done += await self._run_batch(batch, token)
        return done

    async def _run_batch(self, batch: list[Job], token: str) -> int:
        done = 0
        for index, job in enumerate(batch):
            if self._scheduler.urgent_pending():  # production down first: the rest goes back
                await self._db.run(jobs.give_back, [j.id for j in batch[index:]], owner=token)
                break
            held = await self._db.run(
                jobs.hold, job.id, owner=token, now=self._time(), lease=self._lease
            )
            if not held:
                log.warning("job claim lost; another worker has it", extra={"key": job.key})
                continue
            done += await self._run(job, token)
        return done

    async def _run(self, job: Job, token: str) -> int:
        where = {"key": job.key, "repo": job.repo, "installation_id": job.installation_id}
        try:
            result = await self._runs[JobKind(job.kind)](job)
        except Exception as exc:
            await self._failed(job, token, exc)
            return 0
        if not await self._db.run(
            jobs.finish, job.id, owner=token, now=self._time(), result=result
        ):  # only a lease lapsing mid-run gets here
            log.error("job finished after its claim lapsed", extra=where)
        log.info("job done", extra={**where, "kind": job.kind})
        self._note(job, "done")
        return 1

    async def _failed(self, job: Job, token: str, exc: Exception) -> None:
        """Retry when the failure may pass (after GitHub's named wait, uncounted, or the
        outbox's backoff), else give up: dead, with the error."""
        now, error = self._time(), f"{type(exc).__name__}: {exc}"[:1000]
        at, counted = retry_at(job, exc, now)
        fields = {"key": job.key, "attempts": job.attempts, "error": error}
        if at is None:
            await self._db.run(jobs.give_up, job.id, owner=token, now=now, error=error)
            failure(log, "job failed; given up", exc, **fields)
            self._note(job, "dead")
            return
        await self._db.run(jobs.retry, job.id, owner=token, at=at, error=error, counted=counted)
        log.warning("job failed; retrying", extra={**fields, "retry_at": at.isoformat()})
        self._note(job, "retry" if counted else "rate-limited")

    def _note(self, job: Job, outcome: str) -> None:
        if self._on_result is not None:
            self._on_result(job, outcome)


def retry_at(job: Job, exc: Exception, now: datetime) -> tuple[datetime | None, bool]:
    """When a failed job runs again (None: never) and whether the attempt counts: a wait
    GitHub named (a rate limit) does not; `Retry` waits its delay; a permanent failure (a
    4xx GitHub will answer again, a bug) gives up; anything else follows the outbox's
    schedule, and gives up after as many attempts."""
    if isinstance(exc, Retry):
        return now + exc.delay, True
    verdict = failures.classify(exc, now)
    if verdict.wait is not None:
        return now + verdict.wait, False
    if verdict.kind is failures.Kind.PERMANENT:
        return None, True
    return backoff.OUTBOX.next_attempt(now, job.attempts), True
