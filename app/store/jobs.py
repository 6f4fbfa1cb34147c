"""Jobs: the app's own work (a reconcile, a redelivery), planned once per key, run by one worker
under a lease, retried, and kept dead with its error when it keeps failing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, or_, select

from app.store import queue
from app.store.tables import jobs

PENDING, DONE, DEAD = "pending", "done", "dead"


class JobKind(StrEnum):
    """Every kind of job; the value is what the row stores (and what the outbox stored before
    migration 0017 moved them here)."""

    RECONCILE = "reconcile"  # rebuild a repository's clocks from GitHub (app/jobs/reconcile.py)
    REDELIVER = "redeliver"  # ask GitHub to redeliver a missed delivery (app/jobs/redeliver.py)


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    kind: str
    installation_id: int | None
    repo: str | None
    payload: dict[str, Any]
    status: str
    attempts: int  # this one included, once claimed
    last_error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


# What runs a job of one kind, its result recorded with it (app/jobs: reconcile, redeliver).
Run = Callable[[Job], Awaitable[dict[str, Any]]]
# Whose a job is, for claims in turns: its installation (a redelivery has none).
TENANT = jobs.c.installation_id


def enqueue(
    conn: Connection,
    kind: JobKind,
    *,
    key: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    installation_id: int | None = None,
    repo: str | None = None,
) -> bool:
    """Plan a job once per key, however many replicas plan it; False when it was planned
    already (whatever became of it)."""
    row = {
        "key": key,
        "kind": str(kind),
        "installation_id": installation_id,
        "repo": repo,
        "payload": json.dumps(payload or {}),
        "status": PENDING,
        "next_attempt_at": queue.AT_ONCE,
        "created_at": now,
    }
    if not queue.insert_new(conn, jobs, [row], "key"):
        return False
    if _PLANNED in conn.info:  # inside `noted`
        conn.info[_PLANNED] = True
    return True


_PLANNED = "sla_bot.jobs.planned"


@contextlib.contextmanager
def noted(conn: Connection) -> Iterator[Callable[[], bool]]:
    """Inside: whether a job was planned on `conn` since the block began (a wave's commit
    tells the job runner it has work to claim). Nothing is left on the connection, which
    the pool hands to others next."""
    conn.info[_PLANNED] = False
    try:
        yield lambda: bool(conn.info.get(_PLANNED))
    finally:
        conn.info.pop(_PLANNED, None)


def reconcile(
    conn: Connection, installation_id: int, repo: str, *, key: str, now: datetime
) -> bool:
    """Plan a rebuild of a repository's clocks from GitHub's record (after install,
    periodically)."""
    return enqueue(
        conn, JobKind.RECONCILE, key=key, now=now, installation_id=installation_id, repo=repo
    )


def claim_ready(
    conn: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    kinds: Collection[str],
    limit: int = 1,
) -> list[Job]:
    """Claim up to `limit` due jobs of `kinds` (those this process can run), oldest first,
    taken in turns by installation."""
    if not kinds:
        return []
    rows = queue.claim_ready(
        conn,
        jobs,
        owner=owner,
        now=now,
        lease=lease,
        order=[jobs.c.id],
        limit=limit,
        where=jobs.c.kind.in_(sorted(kinds)),
        tenant=TENANT,
    )
    return [_job(row) for row in rows]


def renew(conn: Connection, *, owner: str, now: datetime, lease: timedelta) -> int:
    """The heartbeat: extend every claim of this batch still held."""
    return queue.renew(conn, jobs, owner=owner, now=now, lease=lease)


def hold(conn: Connection, job_id: int, *, owner: str, now: datetime, lease: timedelta) -> bool:
    """Renew the claim on one job right before running it; False: another worker has it."""
    return queue.renew(conn, jobs, owner=owner, now=now, lease=lease, row_id=job_id) == 1


def give_back(conn: Connection, ids: list[int], *, owner: str) -> int:
    """Release claimed jobs never started (urgent work came first), the attempt not counted."""
    return queue.give_back(conn, jobs, ids, owner=owner)


def finish(
    conn: Connection, job_id: int, *, owner: str, now: datetime, result: dict[str, Any]
) -> bool:
    """Record the job done with its result; only the lease holder may."""
    return queue.finish(
        conn, jobs, job_id, owner=owner, status=DONE, finished_at=now, result=json.dumps(result)
    )


def retry(
    conn: Connection,
    job_id: int,
    *,
    owner: str,
    at: datetime,
    error: str,
    counted: bool = True,
) -> None:
    """Release the job to run again at `at`; `counted=False`: GitHub asked to wait (a rate
    limit), which does not use up an attempt."""
    queue.release(
        conn, jobs, job_id, owner=owner, error=error, retry_at=at, dead=DEAD, counted=counted
    )


def give_up(conn: Connection, job_id: int, *, owner: str, now: datetime, error: str) -> None:
    """Record the job dead, with its error (`sla-bot deliveries --failed` lists it)."""
    queue.release(
        conn, jobs, job_id, owner=owner, error=error, retry_at=None, dead=DEAD, finished_at=now
    )


def replay(conn: Connection, key: str) -> bool:
    """Queue a dead job again, due at once; False when there is no dead job `key`."""
    return queue.replay(conn, jobs, key, DEAD, finished_at=None)


def by_key(conn: Connection, key: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.key == key)).first()
    return None if row is None else _job(row)


def failed(conn: Connection, limit: int = 200) -> list[Job]:
    """Dead jobs and those waiting for a retry after an error, newest first."""
    rows = conn.execute(
        select(jobs)
        .where(
            or_(
                jobs.c.status == DEAD,
                (jobs.c.status == PENDING) & jobs.c.last_error.is_not(None),
            )
        )
        .order_by(jobs.c.id.desc())
        .limit(limit)
    )
    return [_job(row) for row in rows]


def pending(conn: Connection) -> dict[str, int]:
    """Pending jobs per kind (a process that cannot run them says how many wait)."""
    rows = conn.execute(
        select(jobs.c.kind, func.count()).where(jobs.c.status == PENDING).group_by(jobs.c.kind)
    )
    return {str(kind): int(count) for kind, count in rows}


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        key=row.key,
        kind=row.kind,
        installation_id=row.installation_id,
        repo=row.repo,
        payload=json.loads(row.payload),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        result=None if row.result is None else json.loads(row.result),
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
