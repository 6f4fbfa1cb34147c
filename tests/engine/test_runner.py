"""Jobs (reconciles, redeliveries) run once per key whatever the replicas do, survive a worker
that died, are retried on the outbox's schedule and end dead where the operator sees them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from gidgethub import BadRequest, GitHubBroken
from sqlalchemy import Connection

from app.cli.main import main
from app.config import Settings
from app.engine import backoff
from app.engine.runner import JobRunner
from app.engine.scheduler import Scheduler
from app.services import build
from app.store import jobs, make_engine
from app.store.database import Database
from app.store.jobs import Job, JobKind
from app.store.queue import URGENT_LANE
from tests.harness import MovableTime

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=15)
KEY = "periodic:reconcile:acme/support:1"


class Reconciles:
    """A run function that records the jobs it ran, taking `takes` seconds, failing with
    `error` when one is set."""

    def __init__(self, takes: float = 0.0, error: Exception | None = None) -> None:
        self.ran: list[str] = []
        self.takes, self.error = takes, error

    async def __call__(self, job: Job) -> dict[str, Any]:
        self.ran.append(job.key)
        await asyncio.sleep(self.takes)
        if self.error is not None:
            raise self.error
        return {"unchanged": 3}


def runner(
    db: Database,
    time: MovableTime,
    run: Reconciles,
    owner: str = "w1",
    scheduler: Scheduler | None = None,
) -> JobRunner:
    return JobRunner(
        db=db,
        scheduler=scheduler or Scheduler(),
        time=time,
        owner=owner,
        lease=LEASE,
        runs={JobKind.RECONCILE: run},
    )


def plan(db: Database, key: str = KEY, installation_id: int = 1) -> bool:
    return db.tx(jobs.reconcile, installation_id, "acme/support", key=key, now=T0)


def job(db: Database, key: str = KEY) -> Job:
    found = db.tx(jobs.by_key, key)
    assert found is not None
    return found


@pytest.mark.anyio
async def test_a_job_planned_by_two_replicas_runs_once(db: Database, database_url: str) -> None:
    other_engine = make_engine(database_url)  # the second replica's own connections
    other = Database(other_engine)
    try:
        assert plan(db) and not plan(other)
        time, run = MovableTime(T0), Reconciles(takes=0.2)
        done = await asyncio.gather(
            runner(db, time, run, "w1").drain(), runner(other, time, run, "w2").drain()
        )
        assert sorted(done) == [0, 1]
        assert run.ran == [KEY]
        finished = job(db)
        assert (finished.status, finished.attempts, finished.result) == (
            jobs.DONE,
            1,
            {"unchanged": 3},
        )
        assert finished.finished_at == T0
    finally:
        other_engine.dispose()


@pytest.mark.anyio
async def test_a_job_whose_worker_died_is_run_by_another_once_its_lease_lapsed(
    db: Database,
) -> None:
    plan(db)
    (held,) = db.tx(
        jobs.claim_ready, owner="gone:1", now=T0, lease=LEASE, kinds=["reconcile"], limit=1
    )
    time, run = MovableTime(T0 + LEASE / 2), Reconciles()
    restarted = runner(db, time, run, "w2")  # a new process: nothing of the old one in memory
    assert await restarted.drain() == 0  # still claimed: the other may be running it
    time.advance(seconds=LEASE.total_seconds())
    assert await restarted.drain() == 1
    assert run.ran == [KEY]
    assert (job(db).status, job(db).attempts) == (jobs.DONE, 2)
    # The dead worker, back from a long pause, can no longer record anything.
    assert not db.tx(jobs.finish, held.id, owner="gone:1", now=time(), result={})


@pytest.mark.anyio
async def test_a_failing_job_is_retried_later_and_ends_dead_where_the_operator_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    settings = Settings(database_url=url)
    services = build(settings, time=lambda: T0, require_secret=False)
    db = services.db
    try:
        plan(db)
        time, run = MovableTime(T0), Reconciles(error=GitHubBroken(HTTPStatus.BAD_GATEWAY))
        jobs_runner = runner(db, time, run)
        attempts = len(backoff.OUTBOX.waits) + 1  # as many as an effect gets
        for attempt in range(1, attempts + 1):
            assert await jobs_runner.drain() == 0
            assert len(run.ran) == attempt
            assert await jobs_runner.drain() == 0 and len(run.ran) == attempt  # not due yet
            time.advance(hours=1)  # the longest wait of the schedule
        failed = job(db)
        assert (failed.status, failed.attempts, failed.finished_at) == (
            jobs.DEAD,
            attempts,
            time() - timedelta(hours=1),
        )
        assert "GitHubBroken" in (failed.last_error or "")
    finally:
        await services.aclose()
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["deliveries", "--failed"]) == 0
    listed = capsys.readouterr().out
    assert f"job {KEY}  reconcile  acme/support  dead after {attempts} attempt(s)" in listed
    assert main(["deliveries", "--replay", KEY]) == 0  # the operator's second chance
    assert "queued again" in capsys.readouterr().out
    with make_engine(url).connect() as conn:
        again = jobs.by_key(conn, KEY)
    assert again is not None and (again.status, again.attempts) == (jobs.PENDING, 0)


@pytest.mark.anyio
async def test_a_rate_limited_job_waits_githubs_time_without_using_an_attempt(
    db: Database,
) -> None:
    plan(db)
    limited = BadRequest(HTTPStatus.TOO_MANY_REQUESTS)
    limited.headers = {"retry-after": "120"}  # type: ignore[attr-defined]
    time, run = MovableTime(T0), Reconciles(error=limited)
    jobs_runner = runner(db, time, run)
    await jobs_runner.drain()
    assert job(db).attempts == 0  # waiting is not failing
    time.advance(seconds=119)
    await jobs_runner.drain()
    assert len(run.ran) == 1
    time.advance(seconds=1)
    await jobs_runner.drain()
    assert len(run.ran) == 2


@pytest.mark.anyio
async def test_a_job_github_refuses_for_good_is_dead_at_once(db: Database) -> None:
    plan(db)
    time, run = MovableTime(T0), Reconciles(error=BadRequest(HTTPStatus.NOT_FOUND))
    await runner(db, time, run).drain()
    assert (job(db).status, job(db).attempts) == (jobs.DEAD, 1)


@pytest.mark.anyio
async def test_jobs_wait_while_production_down_is_pending(db: Database) -> None:
    plan(db)
    time, run = MovableTime(T0), Reconciles()
    scheduler = Scheduler()  # the worker's, shared with the runner
    jobs_runner = runner(db, time, run, scheduler=scheduler)
    scheduler.stored(URGENT_LANE)
    assert await jobs_runner.drain() == 0
    assert run.ran == [] and (job(db).status, job(db).attempts) == (jobs.PENDING, 0)
    scheduler.claiming()  # the page's delivery is claimed and its effects queued
    assert await jobs_runner.drain() == 1


@pytest.mark.anyio
async def test_jobs_are_taken_in_turns_by_installation(db: Database) -> None:
    for n in range(3):
        plan(db, f"periodic:reconcile:acme/r{n}:1", installation_id=1)
    plan(db, "install:beta/support:d1:reconcile", installation_id=2)
    time, run = MovableTime(T0), Reconciles()
    await runner(db, time, run).drain()
    assert run.ran[:2] == ["periodic:reconcile:acme/r0:1", "install:beta/support:d1:reconcile"]


@pytest.mark.anyio
async def test_a_process_without_githubs_credentials_leaves_jobs_pending(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'no-github.db'}")
    services = build(settings, time=lambda: T0, require_secret=False)
    try:
        plan(services.db)
        services.db.tx(
            jobs.enqueue, JobKind.REDELIVER, key="redeliver:g-1", now=T0, payload={"id": 9}
        )
        await services.worker.drain()
        for key in (KEY, "redeliver:g-1"):
            waiting = job(services.db, key)
            assert (waiting.status, waiting.attempts, waiting.last_error) == (
                jobs.PENDING,
                0,
                None,
            )
        assert services.db.tx(jobs.pending) == {"reconcile": 1, "redeliver": 1}
    finally:
        await services.aclose()


def test_a_planned_job_is_told_once_to_the_commit_that_planned_it(db: Database) -> None:
    def wave(conn: Connection) -> tuple[bool, bool, bool]:
        with jobs.noted(conn) as planned:
            before = planned()
            first = jobs.reconcile(conn, 1, "acme/support", key=KEY, now=T0)
            return before, first, planned()

    def again(conn: Connection) -> bool:
        with jobs.noted(conn) as planned:
            assert not jobs.reconcile(conn, 1, "acme/support", key=KEY, now=T0)  # planned already
            return planned()

    def elsewhere(conn: Connection) -> dict[str, object]:
        jobs.reconcile(conn, 1, "acme/other", key=KEY + ":other", now=T0)  # not in a wave
        return dict(conn.info)

    assert db.tx(wave) == (False, True, True)
    assert db.tx(again) is False
    assert "sla_bot.jobs.planned" not in db.tx(elsewhere)  # nothing left for the pool


@pytest.mark.anyio
async def test_the_job_runner_looks_after_a_wave_that_planned_a_job_and_no_other() -> None:
    """A wave of labels and comments wakes the sending loops only; an installation's
    reconcile wakes the job runner too."""
    scheduler = Scheduler()
    scheduler.effects_queued()
    await asyncio.wait_for(scheduler.effects_due(60), 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(scheduler.jobs_due(60), 0.05)
    scheduler.effects_queued(jobs=True)
    await asyncio.wait_for(scheduler.jobs_due(60), 1)
