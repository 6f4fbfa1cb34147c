"""Exactly once under real faults: replicas racing, leases lapsing, rate limits, lost answers.

Each test reproduces one row of the README's failure table (issue 10). Replicas are separate
sets of services (own engine, own worker name) on one database: PostgreSQL where it runs.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stamina.instrumentation
from sqlalchemy import select
from stamina.instrumentation import RetryDetails

from app.config import Settings
from app.notify.messages import AlertContent, AlertKind
from app.notify.slack import SlackNotifier
from app.services import Services, build
from app.sla.domain import Priority, RequestType
from app.store import deliveries, effects, outbox, tables
from app.time_source import system_time
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests.factories import PROD, URGENT, form_body
from tests.harness import MovableTime

pytestmark = pytest.mark.anyio

REPO, OTHER = "acme/support", "globex/helpdesk"
INSTALLATION, OTHER_INSTALLATION = 77, 78
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam


@pytest.fixture
def github(time: MovableTime) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(time=time)
    with fake.serve():
        fake.add_repo(REPO, INSTALLATION)
        fake.add_repo(OTHER, OTHER_INSTALLATION)
        yield fake


@pytest.fixture
def time() -> MovableTime:
    return MovableTime(T0)


def settings(github: FakeGitHub, slack: FakeSlack, database_url: str, **more: Any) -> Settings:
    return Settings(
        github_app_id=github.app_id,
        github_private_key=github.private_key_pem,
        github_api_url=github.api_url,
        slack_bot_token=slack.token,
        slack_api_url=slack.api_url,
        database_url=database_url,
        **more,
    )


@asynccontextmanager
async def replicas(config: Settings, time: Any, count: int = 2) -> AsyncIterator[list[Services]]:
    built = [
        await asyncio.to_thread(build, config, time=time, require_secret=False)
        for _ in range(count)
    ]
    try:
        yield built
    finally:
        for services in built:
            await services.aclose()


def receive(
    services: Services,
    github: FakeGitHub,
    repo: str,
    installation: int,
    n: int,
    priority: str = URGENT,
) -> None:
    """A Problem request (urgent), opened on GitHub and stored as its delivery was."""
    issue = github.open_issue(
        repo, title=f"Request {n}", body=form_body("problem", priority), user="dana"
    )
    number = int(issue["number"])
    body = json.dumps(github.payload("issues", "opened", repo, number))
    services.db.tx(
        deliveries.record,
        delivery_id=f"{repo}-{number}",
        event="issues",
        action="opened",
        installation_id=installation,
        repo=repo,
        issue_number=number,
        body=body,
        now=services.time(),
    )


def intake_comments(github: FakeGitHub, repo: str, n: int) -> int:
    return sum("intake:comment" in c["body"] for c in github.comments(repo, n))


def announcements(slack: FakeSlack) -> Counter[str]:
    return Counter(
        m.text.split("#")[1].split()[0] for m in slack.messages if "New urgent" in (m.text or "")
    )


async def settle(services: list[Services], time: MovableTime, step: float = 13) -> None:
    """Let the replicas race until nothing is left, moving time on between rounds."""
    for _ in range(12):
        await asyncio.gather(*(s.worker.drain() for s in services))
        if not await services[0].db.run(_anything_pending):
            return
        time.advance(seconds=step)
    raise AssertionError("work left after 12 rounds")


def _anything_pending(conn: Any) -> bool:
    from app.store import queue
    from app.store.tables import deliveries as d
    from app.store.tables import outbox as o

    return queue.busy(conn, [d, o], datetime(2100, 1, 1, tzinfo=UTC))


async def test_two_replicas_and_github_rate_limits_give_one_comment_and_one_post_each(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str, time: MovableTime
) -> None:
    """1: a 403 with Retry-After on the label calls, 10 s leases, two replicas racing."""
    config = settings(github, fake_slack, database_url, sla_lease_seconds=10)
    github.fail_next(
        "POST",
        r"/issues/\d+/labels$",
        403,
        times=4,
        headers={"retry-after": "12"},
        json={"message": "You have exceeded a secondary rate limit."},
    )
    async with replicas(config, time) as (a, b):
        for n in range(1, 9):
            receive(a, github, REPO, INSTALLATION, n)
        await settle([a, b], time)
    for n in range(1, 9):
        assert intake_comments(github, REPO, n) == 1, n
        assert "priority: urgent" in github.label_names(REPO, n)
    assert announcements(fake_slack) == Counter({f"{n}": 1 for n in range(1, 9)})


async def test_a_batch_that_outlasts_its_lease_is_not_sent_twice(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str
) -> None:
    """2: Slack slow (0.15 s a post), a 0.3 s lease: the heartbeat keeps the batch claimed,
    and a replica that would take it over finds every claim still held."""
    config = settings(github, fake_slack, database_url, sla_lease_seconds=0.3)
    async with replicas(config, system_time) as (a, b):
        now = system_time()
        for clock_id in range(1, 13):
            a.db.tx(_breach_alert, clock_id, now)
        fake_slack.accept_then_stall(0.15, times=12)  # every post answers slowly
        sent = await asyncio.gather(a.dispatcher.drain(), _later(b.dispatcher.drain, 0.5))
    assert sum(sent) == 12
    assert len(fake_slack.messages) == 12
    assert len({m.text for m in fake_slack.messages}) == 12


async def _later(fn: Any, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return int(await fn())


def _breach_alert(conn: Any, clock_id: int, now: datetime) -> None:
    content = AlertContent(
        kind=AlertKind.BREACH,
        repo=REPO,
        issue_number=clock_id,
        title=f"Request {clock_id}",
        issue_url=f"https://github.com/{REPO}/issues/{clock_id}",
        opened_by="dana",
        priority=Priority.URGENT,
        request_type=RequestType.PROBLEM,
        started_at=now - timedelta(hours=2),
        due_at=now - timedelta(hours=1),
        tz=UTC,
        now=now,
    )
    effects.alert(conn, content=content, channel="#support", clock_id=clock_id, now=now)


async def test_a_post_slack_took_but_never_answered_appears_once(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str, time: MovableTime
) -> None:
    """4: the answer to the first post is lost (the client gives up); the retry looks in the
    channel's history, finds the alert's metadata and does not post again."""
    config = settings(github, fake_slack, database_url)
    async with replicas(config, time, count=1) as (a,):
        a.dispatcher._notifier = SlackNotifier(fake_slack.token or "", fake_slack.api_url, 0.5)
        a.db.tx(_breach_alert, 1, time())
        fake_slack.accept_then_stall(1.5)
        assert await a.dispatcher.drain() == 0  # timed out: outcome unknown, retried later
        time.advance(minutes=1)
        assert await a.dispatcher.drain() == 1
        item = a.db.tx(outbox.by_key, effects.alert_key(1, AlertKind.BREACH))
        await a.dispatcher._notifier.aclose()
    assert len(fake_slack.messages) == 1
    assert item is not None and item.result is not None and item.result["found"] is True
    assert item.result["ts"] == fake_slack.messages[0].ts  # threads attach to the real one


async def test_a_rate_limited_installation_holds_up_nobody_else(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str, time: MovableTime
) -> None:
    """6: one installation told to wait 45 s; the other's writes and Slack go out at once,
    nothing sleeps, and the limited one resumes after its wait."""
    config = settings(github, fake_slack, database_url)
    github.fail_next(
        "POST",
        rf"/repos/{REPO}/issues/\d+/labels$",
        403,
        times=1,
        headers={"retry-after": "45"},
        json={"message": "secondary rate limit"},
    )
    retried: list[RetryDetails] = []  # in-process retries (stamina): a rate limit is none
    hooks = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([*hooks, retried.append])
    services = await asyncio.to_thread(build, config, time=time, require_secret=False)
    try:
        receive(services, github, REPO, INSTALLATION, 1)
        receive(services, github, OTHER, OTHER_INSTALLATION, 1)
        await services.worker.drain()
        assert intake_comments(github, OTHER, 1) == 1  # not held up
        assert intake_comments(github, REPO, 1) == 0  # its installation is paused
        assert len(fake_slack.messages) == 2  # Slack is not GitHub: both announced
        time.advance(seconds=44)
        await services.worker.drain()
        assert intake_comments(github, REPO, 1) == 0
        time.advance(seconds=2)
        await services.worker.drain()
        assert intake_comments(github, REPO, 1) == 1
    finally:
        await services.aclose()
        stamina.instrumentation.set_on_retry_hooks(hooks)
    assert retried == []


async def test_refused_blocks_fall_back_to_text_and_a_dead_effect_can_be_replayed(
    github: FakeGitHub,
    fake_slack: FakeSlack,
    database_url: str,
    time: MovableTime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """7: `invalid_blocks` gets the plain-text form; a dead alert comes back by `--replay`."""
    config = settings(github, fake_slack, database_url)
    async with replicas(config, time, count=1) as (a,):
        a.db.tx(_breach_alert, 1, time())
        fake_slack.error_next("invalid_blocks")
        assert await a.dispatcher.drain() == 1
        a.db.tx(_breach_alert, 2, time())
        fake_slack.error_next("channel_not_found")  # the second alert dies
        assert await a.dispatcher.drain() == 0
        [fallback] = fake_slack.messages
        assert fallback.blocks is None and "Request 1" in (fallback.text or "")
        key = effects.alert_key(2, AlertKind.BREACH)
        dead = a.db.tx(outbox.by_key, key)
        assert dead is not None and dead.status == outbox.DEAD

        from app.cli.main import main

        monkeypatch.setenv("DATABASE_URL", database_url)
        assert await asyncio.to_thread(main, ["deliveries", "--failed"]) == 0
        assert f"effect {key}" in capsys.readouterr().out
        assert await asyncio.to_thread(main, ["deliveries", "--replay", key]) == 0
        assert "queued again" in capsys.readouterr().out
        assert await a.dispatcher.drain() == 1
    assert [("Request 2" in (m.text or "")) for m in fake_slack.messages] == [False, True]


async def test_writes_held_back_each_get_a_slot_of_their_own(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str, time: MovableTime
) -> None:
    """A burst over the pace (2 a minute here) is scheduled once: each write held back gets
    its own later slot, 2 a minute, instead of all retrying together a minute later (and
    being held back again, n²/rate times in all)."""
    config = settings(github, fake_slack, database_url, sla_github_write_rate=2)
    async with replicas(config, time, count=1) as (a,):
        for n in range(1, 6):
            receive(a, github, REPO, INSTALLATION, n)
        await a.worker.drain()
        start = time()

        def schedule() -> list[float]:
            query = select(tables.outbox.c.next_attempt_at).where(
                tables.outbox.c.status == outbox.PENDING, tables.outbox.c.target == outbox.GITHUB
            )
            due = a.db.tx(lambda conn: [row[0] for row in conn.execute(query)])
            return sorted((at - start).total_seconds() for at in due)

        slots = schedule()
        assert len(slots) == 8  # 10 writes, 2 sent at once
        assert a.db.tx(outbox.failed) == []  # waiting their turn is not failing
        per_minute = Counter(int(s // 60) for s in slots)
        assert max(per_minute.values()) == 2 and len(per_minute) == 4, slots
        for minute in range(1, 5):  # each minute, the 2 whose slot came, and no other
            time.advance(seconds=60)
            sent_before = len([c for c in github.calls if c.method == "POST"])
            await a.worker.drain()
            assert len([c for c in github.calls if c.method == "POST"]) - sent_before == 2
            assert schedule() == slots[2 * minute :], minute
    assert [intake_comments(github, REPO, n) for n in range(1, 6)] == [1] * 5


async def test_content_writes_are_paced_per_installation_and_production_down_is_not(
    github: FakeGitHub, fake_slack: FakeSlack, database_url: str, time: MovableTime
) -> None:
    """GitHub's secondary limits: content-creating writes (labels and comments) are paced
    per installation (here 3 a minute), across replicas through the store; another
    installation and production down are not held back, and nothing is lost."""
    config = settings(github, fake_slack, database_url, sla_github_write_rate=3)
    async with replicas(config, time) as (a, b):
        for n in range(1, 7):
            receive(a, github, REPO, INSTALLATION, n)
        receive(a, github, OTHER, OTHER_INSTALLATION, 1)
        receive(a, github, REPO, INSTALLATION, 7, PROD)
        await asyncio.gather(a.worker.drain(), b.worker.drain())
        assert intake_comments(github, REPO, 7) == 1  # production down is never held back
        assert "priority: production-down" in github.label_names(REPO, 7)
        commented = [n for n in range(1, 7) if intake_comments(github, REPO, n)]
        labeled = [n for n in range(1, 7) if "priority: urgent" in github.label_names(REPO, n)]
        assert len(commented) + len(labeled) <= 3  # this minute's budget, shared by both
        assert intake_comments(github, OTHER, 1) == 1  # another installation's own budget
        assert "priority: urgent" in github.label_names(OTHER, 1)
        for _ in range(5):  # 12 routine writes, and production down used 2 of the budget
            time.advance(seconds=61)
            await asyncio.gather(a.worker.drain(), b.worker.drain())
    assert all("priority: urgent" in github.label_names(REPO, n) for n in range(1, 7))
    assert [intake_comments(github, REPO, n) for n in range(1, 7)] == [1] * 6
