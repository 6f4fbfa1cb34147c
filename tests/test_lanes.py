"""Production down first: a page never waits behind a backlog of routine work."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.engine.scheduler import Scheduler, Yielding
from app.engine.urgency import Urgency
from app.sla.policy import DEFAULT_POLICY, parse_policy
from app.store import deliveries
from app.store.queue import ROUTINE_LANE, URGENT_LANE
from tests.factories import PROD, URGENT, problem_form
from tests.harness import REPO, WORLD_INSTALLATION, WORLD_T0, World

BACKLOG = 60
RENAMED = parse_policy(
    "priorities:\n"
    '  production-down: {label: "sev1", within: "30m", calendar: "24/7", page: true}\n'
    '  urgent: {label: "sev2", within: "1h"}\n'
    '  normal: {label: "sev3", within: "next-business-day"}\n',
    source="sla.yml",
)


def store(world: World, n: int) -> None:
    """Deliveries as the receiver stores them, lane included."""
    payload = world.fake.payload("issues", "opened", REPO, n)
    body = json.dumps(payload).encode()
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
        lane=world.services.urgency.lane("issues", payload),
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
    world.time.advance(seconds=61)  # the backlog's writes are paced (80 a minute)
    await world.services.worker.drain()
    writes = [c.path for c in fake.calls if c.method == "POST" and "/issues/" in c.path]
    assert len(writes) == 2 * (BACKLOG + 1)  # and the backlog is all done after it


def issue_event(action: str, body: str = "", labels: tuple[str, ...] = (), **extra: Any) -> Any:
    issue = {
        "number": 5,
        "title": "t",
        "user": {"login": "kim"},
        "body": body,
        "labels": [{"name": name} for name in labels],
        "created_at": "2026-11-30T08:00:00Z",
    }
    return {
        "action": action,
        "issue": issue,
        "repository": {"full_name": REPO},
        "installation": {"id": WORLD_INSTALLATION},
        **extra,
    }


def test_a_delivery_is_urgent_when_its_priority_pages_by_the_policy() -> None:
    urgency = Urgency(DEFAULT_POLICY)
    assert urgency.lane("issues", issue_event("opened", problem_form(PROD, "All end users"))) == 0
    assert urgency.lane("issues", issue_event("opened", problem_form(URGENT, "A few"))) == 1
    # Production down chosen for a few users is urgent, not a page: it does not jump the queue.
    assert (
        urgency.lane("issues", issue_event("opened", problem_form(PROD, "A few (up to 10)"))) == 1
    )
    relabeled = issue_event("labeled", label={"name": "priority: production-down"})
    assert urgency.lane("issues", relabeled) == URGENT_LANE
    closed = issue_event("closed", labels=("priority: production-down",))
    assert urgency.lane("issues", closed) == URGENT_LANE  # its incident resolves at once
    assert urgency.lane("issue_comment", closed) == ROUTINE_LANE
    assert urgency.lane("issues", {"action": "opened", "issue": "?"}) == ROUTINE_LANE


@pytest.mark.anyio
async def test_a_repository_that_renamed_its_paging_label_keeps_its_fast_lane() -> None:
    urgency = Urgency(DEFAULT_POLICY)
    event = issue_event("labeled", labels=("sev1",), label={"name": "sev1"})
    assert urgency.lane("issues", event) == ROUTINE_LANE  # its policy not read yet
    await urgency.policy_read(WORLD_INSTALLATION, REPO, RENAMED)
    assert urgency.lane("issues", event) == URGENT_LANE
    old_name = issue_event("labeled", label={"name": "priority: production-down"})
    assert urgency.lane("issues", old_name) == ROUTINE_LANE  # not a label of theirs any more


@pytest.mark.anyio
async def test_the_receiver_asks_for_a_repositorys_policy_without_waiting_for_it() -> None:
    """In a process of its own (SLA_WORKER=process) the receiver reads no policy for its
    worker: it asks beside the delivery, and the deliveries after it go by the answer."""
    asked: list[tuple[int | None, str]] = []
    answer = asyncio.Event()

    async def look(installation_id: int | None, repo: str) -> Any:
        asked.append((installation_id, repo))
        await answer.wait()
        return RENAMED

    async def tracked_by(repo: str) -> int | None:
        return WORLD_INSTALLATION

    urgency = Urgency(DEFAULT_POLICY, look, tracked_by=tracked_by)
    event = issue_event("labeled", labels=("sev1",), label={"name": "sev1"})
    assert urgency.lane("issues", event) == ROUTINE_LANE  # never waits: the policy at hand
    assert urgency.lane("issues", event) == ROUTINE_LANE
    answer.set()
    for _ in range(100):
        if urgency.lane("issues", event) == URGENT_LANE:
            break
        await asyncio.sleep(0.01)
    assert urgency.lane("issues", event) == URGENT_LANE
    assert asked == [(WORLD_INSTALLATION, REPO)]  # once, not once a delivery


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
        if not arrived:  # mid-wave of the routine batch: the page comes in, is processed
            arrived = True
            store(world, down)
            worker.kick(lane=URGENT_LANE)
            await worker._process_ready()
        await real(gh, repo, issue, labels)  # type: ignore[arg-type]

    monkeypatch.setattr(ops, "add_labels", add_labels)
    await world.services.dispatcher.drain()
    writes = [c.path for c in fake.calls if c.method == "POST" and "/issues/" in c.path]
    first = writes.index(f"/repos/{REPO}/issues/{down}/labels")
    assert first <= 1  # only the write already under way went before it
    assert writes[first + 1] == f"/repos/{REPO}/issues/{down}/comments"


def test_routine_work_yields_while_the_receiver_is_busy_for_a_bounded_time() -> None:
    now, in_flight = [100.0], [0]
    scheduler = Scheduler(
        Yielding(in_flight=8, lag=0.05, most=5.0),
        in_flight=lambda: in_flight[0],
        monotonic=lambda: now[0],
    )
    assert scheduler.receiver_wait() == 0  # idle: go
    in_flight[0] = 10  # a burst: more deliveries in hand than the threshold
    assert 0 < scheduler.receiver_wait() <= 0.02  # routine processing looks again soon
    now[0] += 4.9
    assert scheduler.receiver_wait() > 0
    now[0] += 0.1
    assert scheduler.receiver_wait() == 0  # five seconds at most: then processed as it comes
    in_flight[0] = 0  # a lull: over
    assert scheduler.receiver_wait() == 0
    scheduler.note_lag(0.2)  # the event loop runs late: the receiver's answers would too
    assert scheduler.receiver_wait() > 0
    scheduler.note_lag(0.0)
    assert scheduler.receiver_wait() == 0
    scheduler.receiver_busy(True)  # serve's receiver, the worker being in a process of its own
    assert scheduler.receiver_wait() > 0


def test_production_down_is_pending_until_every_target_claimed_its_effects() -> None:
    scheduler = Scheduler()
    assert not scheduler.steps_aside("github", urgent=False)
    scheduler.stored(URGENT_LANE)
    assert scheduler.urgent_pending() and scheduler.steps_aside("slack", urgent=False)
    assert not scheduler.steps_aside("slack", urgent=True)
    scheduler.claiming()
    with scheduler.holding(URGENT_LANE):
        assert scheduler.urgent_pending()
        scheduler.effects_queued()
    assert not scheduler.urgent_pending()
    assert scheduler.steps_aside("github", urgent=False)  # not claimed by github's loop yet
    scheduler.target_claiming("github")
    assert not scheduler.steps_aside("github", urgent=False)
    assert scheduler.steps_aside("slack", urgent=False)


@pytest.mark.anyio
async def test_the_sending_loops_look_again_when_a_claim_takes_the_urgent_work() -> None:
    """Told twice of one production-down delivery (the pipe and NOTIFY), the sends that
    stepped aside for the second word are not left waiting once a claim has taken it."""
    scheduler = Scheduler()
    scheduler.stored(URGENT_LANE)
    assert scheduler.urgent_pending()  # the sending loops step aside
    scheduler.claiming()
    assert not scheduler.urgent_pending()
    await asyncio.wait_for(scheduler.effects_due(60), 1)  # and are woken, not left to poll


@pytest.mark.anyio
async def test_while_the_receiver_is_busy_routine_work_waits_and_production_down_does_not(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    worker = world.services.worker
    monkeypatch.setattr(worker.scheduler, "_monotonic", lambda: now[0])
    routine = problem_form(URGENT, "A few (up to 10)")

    def opened(title: str, body: str) -> int:
        issue = world.fake.open_issue(
            REPO, title=title, body=body, user="dana", created_at=WORLD_T0
        )
        return int(issue["number"])

    numbers = [opened(f"R{n}", routine) for n in range(3)]
    for n in numbers:
        store(world, n)
    world.services.gates.github.reading = 100  # a hundred deliveries being read at once
    worker.kick(stored=3)
    processing = asyncio.create_task(worker._process_ready(yielding=True))

    def status(n: int) -> str | None:
        stored = world.services.db.tx(deliveries.get, f"d-{n}")
        return stored and stored.status

    await asyncio.sleep(0.2)
    assert [status(n) for n in numbers] == [deliveries.PENDING] * 3  # the receiver first
    down = opened("Down", problem_form(PROD, "All end users"))
    store(world, down)
    worker.kick(lane=URGENT_LANE, stored=1)
    for _ in range(100):
        if status(down) == deliveries.DONE:
            break
        await asyncio.sleep(0.02)
    assert status(down) == deliveries.DONE  # at once, busy or not
    assert [status(n) for n in numbers] == [deliveries.PENDING] * 3
    now[0] += 5.0  # the burst has lasted its five seconds: routine work goes on
    assert await asyncio.wait_for(processing, 10) >= 1
    assert [status(n) for n in numbers] == [deliveries.DONE] * 3
    world.services.gates.github.reading = 0
