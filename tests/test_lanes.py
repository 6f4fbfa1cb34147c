"""Production down first: a page never waits behind a backlog of routine work."""

from __future__ import annotations

import json

import pytest

from app.store import deliveries
from app.webhooks.receiver import lane
from tests.harness import REPO, WORLD_INSTALLATION, WORLD_T0, World
from tests.test_lifecycle import problem_form
from tests.webhooks.test_intake import PROD, URGENT

BACKLOG = 60


def store(world: World, n: int) -> None:
    """Deliveries as the receiver stores them, lane included."""
    body = json.dumps(world.fake.payload("issues", "opened", REPO, n)).encode()
    world.services.db.tx(
        deliveries.record, delivery_id=f"d-{n}", event="issues", action="opened",
        installation_id=WORLD_INSTALLATION, repo=REPO, issue_number=n, body=body.decode(),
        now=WORLD_T0, lane=lane("issues", body),
    )  # fmt: skip


@pytest.mark.anyio
async def test_a_production_down_issue_goes_ahead_of_a_backlog(world: World) -> None:
    fake = world.fake
    routine = problem_form(URGENT, "A few (up to 10)")
    for n in range(1, BACKLOG + 1):  # a busy morning: many urgent requests, not yet processed
        fake.open_issue(REPO, title=f"Request {n}", body=routine, user="dana", created_at=WORLD_T0)
        store(world, n)
    down = fake.open_issue(REPO, title="Checkout is down", user="kim", created_at=WORLD_T0,
                           body=problem_form(PROD, "All end users"))["number"]  # fmt: skip
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
    down = fake.open_issue(REPO, title="Checkout is down", user="kim", created_at=WORLD_T0,
                           body=problem_form(PROD, "All end users"))["number"]  # fmt: skip
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
