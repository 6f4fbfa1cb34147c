"""Production down first: a page never waits behind a backlog of routine work."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.engine.worker import Flood
from app.store import deliveries
from app.webhooks.receiver import lane
from tests.factories import PROD, URGENT, problem_form
from tests.harness import REPO, WORLD_INSTALLATION, WORLD_T0, World

BACKLOG = 60


def store(world: World, n: int) -> None:
    """Deliveries as the receiver stores them, lane included."""
    body = json.dumps(world.fake.payload("issues", "opened", REPO, n)).encode()
    world.services.db.tx(
        deliveries.record,
        delivery_id=f"d-{n}",
        event="issues",
        action="opened",
        installation_id=WORLD_INSTALLATION,
        repo=REPO,
        issue_number=n,
        body=body.decode(),
        now=WORLD_T0,
        lane=lane("issues", body),
    )


@pytest.mark.anyio
async def test_a_production_down_issue_goes_ahead_of_a_backlog(world: World) -> None:
    fake = world.fake
    routine = problem_form(URGENT, "A few (up to 10)")
    for n in range(1, BACKLOG + 1):  # a busy morning: many urgent requests, not yet processed
        fake.open_issue(REPO, title=f"Request {n}", body=routine, user="dana", created_at=WORLD_T0)
        store(world, n)
    down = fake.open_issue(
        REPO,
        title="Checkout is down",
        user="kim",
        created_at=WORLD_T0,
        body=problem_form(PROD, "All end users"),
    )["number"]
    store(world, down)
    await world.services.worker.drain()
    writes = [c.path for c in fake.calls if c.method == "POST" and "/issues/" in c.path]
    assert writes[0] == f"/repos/{REPO}/issues/{down}/labels"  # the first write of all
    assert writes[1] == f"/repos/{REPO}/issues/{down}/comments"
    world.clock.advance(seconds=61)  # the backlog's writes are paced (80 a minute)
    await world.services.worker.drain()
    writes = [c.path for c in fake.calls if c.method == "POST" and "/issues/" in c.path]
    assert len(writes) == 2 * (BACKLOG + 1)  # and the backlog is all done after it


def test_the_receivers_lane_reads_the_raw_body() -> None:
    assert lane("issues", problem_form(PROD, "All end users").encode()) == 0
    assert lane("issues", b'{"label": {"name": "priority: production-down"}}') == 0
    assert lane("issues", problem_form(URGENT, "A few").encode()) == 1
    assert lane("issue_comment", b"Production down") == 1


@pytest.mark.anyio
async def test_a_routine_batch_being_sent_steps_aside_for_a_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production down arrives while the dispatcher is sending a routine backlog: once its
    effects are queued, routine writes not yet under way step aside (given back, not failed)
    and the page's label goes next, not after the rest of the batch."""
    from app.github import ops

    fake = world.fake
    routine = problem_form(URGENT, "A few (up to 10)")
    for n in range(1, BACKLOG + 1):
        fake.open_issue(REPO, title=f"Request {n}", body=routine, user="dana", created_at=WORLD_T0)
        store(world, n)
    down = fake.open_issue(
        REPO,
        title="Checkout is down",
        user="kim",
        created_at=WORLD_T0,
        body=problem_form(PROD, "All end users"),
    )["number"]
    worker = world.services.worker
    await worker._process_ready()  # the backlog's effects are queued, none sent yet
    real, arrived = ops.add_labels, False

    async def add_labels(gh: object, repo: str, issue: int, labels: list[str]) -> None:
        nonlocal arrived
        if not arrived:  # mid-window of the routine batch: the page comes in, is processed
            arrived = True
            store(world, down)
            worker.kick(urgent=True)
            await worker._process_ready()
        await real(gh, repo, issue, labels)  # type: ignore[arg-type]

    monkeypatch.setattr(ops, "add_labels", add_labels)
    await world.services.dispatcher.drain()
    writes = [c.path for c in fake.calls if c.method == "POST" and "/issues/" in c.path]
    first = writes.index(f"/repos/{REPO}/issues/{down}/labels")
    assert first <= 1  # only the write already under way went before it
    assert writes[first + 1] == f"/repos/{REPO}/issues/{down}/comments"


def test_a_flood_is_a_rate_over_its_window_and_waits_a_bounded_time() -> None:
    now = [100.0]
    flood = Flood(lambda: now[0], rate=500, window=0.1, most=5.0)
    for _ in range(49):  # 49 in 0.1 s: under 500 a second
        flood.arrived()
        now[0] += 0.002
    assert flood.wait() == 0
    flood.arrived(2)  # 51 within the window: a flood began
    began = now[0]
    assert 0 < flood.wait() <= 0.025  # routine processing looks again soon
    while now[0] < began + 4.9:  # it lasts: 600 a second
        now[0] += 0.01
        flood.arrived(6)
    assert flood.wait() > 0
    now[0] = began + 5.0
    flood.arrived(6)
    assert flood.wait() == 0  # five seconds at most: then processed as it comes
    now[0] += 0.2  # a lull: over
    assert flood.wait() == 0
    flood.arrived(60)
    assert flood.wait() > 0  # a new flood waits again


@pytest.mark.anyio
async def test_during_a_flood_routine_work_waits_and_production_down_does_not(
    world: World,
) -> None:
    now = [0.0]
    worker = world.services.worker
    worker.flood = Flood(lambda: now[0], most=5.0)
    routine = problem_form(URGENT, "A few (up to 10)")

    def opened(title: str, body: str) -> int:
        issue = world.fake.open_issue(
            REPO, title=title, body=body, user="dana", created_at=WORLD_T0
        )
        return int(issue["number"])

    numbers = [opened(f"R{n}", routine) for n in range(3)]
    for n in numbers:
        store(world, n)
    worker.kick(stored=100)  # a hundred deliveries stored in an instant: a flood
    processing = asyncio.create_task(worker._process_ready(yielding=True))

    def status(n: int) -> str | None:
        stored = world.services.db.tx(deliveries.get, f"d-{n}")
        return stored and stored.status

    await asyncio.sleep(0.2)
    assert [status(n) for n in numbers] == [deliveries.PENDING] * 3  # the receiver first
    down = opened("Down", problem_form(PROD, "All end users"))
    store(world, down)
    worker.kick(urgent=True, stored=1)
    for _ in range(100):
        if status(down) == deliveries.DONE:
            break
        await asyncio.sleep(0.02)
    assert status(down) == deliveries.DONE  # at once, flood or not
    assert [status(n) for n in numbers] == [deliveries.PENDING] * 3
    now[0] += 5.0  # the flood has lasted its five seconds: routine work goes on
    assert await asyncio.wait_for(processing, 10) >= 1
    assert [status(n) for n in numbers] == [deliveries.DONE] * 3
