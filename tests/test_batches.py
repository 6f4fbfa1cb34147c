"""Work in waves: deliveries and effects about different issues go together, one failing
does not fail its siblings, one issue's work keeps its order, urgent work never waits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.engine import leases
from app.engine.dispatch import HOURLY_WRITES, concurrent_wave, pace_wait
from app.engine.processor import delivery_wave
from app.github import ops
from app.store import clocks, deliveries, outbox, queue, tables
from app.store.deliveries import Delivery
from app.store.outbox import Item
from tests.factories import PROD, URGENT, problem_form
from tests.harness import REPO, WORLD_INSTALLATION, WORLD_T0, World

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=15)  # the default (SLA_LEASE_SECONDS)


def item(n: int, issue: int, kind: str = "add-labels", **more: Any) -> Item:
    values: dict[str, Any] = {
        "id": n,
        "key": f"k{n}",
        "target": outbox.GITHUB,
        "kind": kind,
        "clock_id": None,
        "installation_id": 1,
        "repo": REPO,
        "issue_number": issue,
        "payload": {},
        "status": outbox.PENDING,
        "attempts": 1,
        "result": None,
    }
    values.update(more)
    return Item(**values)


def delivery(n: int, issue: int | None, lane: int = queue.ROUTINE_LANE) -> Delivery:
    return Delivery(
        id=f"d{n}",
        event="issues",
        action="opened",
        installation_id=1,
        repo=REPO,
        issue_number=issue,
        body="{}",
        received_at=T,
        status=deliveries.PENDING,
        attempts=1,
        last_error=None,
        lane=lane,
    )


def ids(items: list[Any]) -> list[Any]:
    return [i.id for i in items]


def test_effects_on_different_issues_go_together_and_one_issues_keep_their_order() -> None:
    batch = [item(1, 1), item(2, 1, "comment"), item(3, 2), item(4, 2, "comment"), item(5, 3)]
    wave, rest = concurrent_wave(batch, 16)
    assert ids(wave) == [1, 3, 5]
    assert ids(rest) == [2, 4]  # each comment after its issue's label
    assert ids(concurrent_wave(rest, 16)[0]) == [2, 4]


def test_a_wave_holds_at_most_its_size() -> None:
    wave, rest = concurrent_wave([item(n, n) for n in range(1, 41)], 16)
    assert ids(wave) == list(range(1, 17))
    assert ids(rest) == list(range(17, 41))


def test_urgent_effects_never_share_a_wave_with_routine_ones() -> None:
    batch = [item(1, 9, urgent=True), item(2, 9, "comment", urgent=True), item(3, 1)]
    wave, rest = concurrent_wave(batch, 16)
    assert ids(wave) == [1]  # not the routine label of issue 1
    wave, rest = concurrent_wave(rest, 16)
    assert ids(wave) == [2]
    assert ids(rest) == [3]


def test_a_threaded_reply_or_an_edit_of_the_intake_comment_goes_alone_in_order() -> None:
    reply = item(2, 1, "alert", target=outbox.SLACK, payload={"thread_of": "k0"})
    batch = [item(1, 1), reply, item(3, 2), item(4, 3, "standing"), item(5, 4)]
    wave, rest = concurrent_wave(batch, 16)
    assert ids(wave) == [1]  # the reply is a barrier: what follows waits for it
    wave, rest = concurrent_wave(rest, 16)
    assert ids(wave) == [2]
    wave, rest = concurrent_wave(rest, 16)
    assert ids(wave) == [3]
    assert ids(concurrent_wave(rest, 16)[0]) == [4]


def test_deliveries_about_one_issue_keep_their_order_and_others_go_together() -> None:
    batch = [delivery(1, 1), delivery(2, 1), delivery(3, 2), delivery(4, None), delivery(5, 3)]
    wave, rest = delivery_wave(batch, 16)
    assert ids(wave) == ["d1", "d3"]
    assert ids(rest) == ["d2", "d4", "d5"]  # an installation event waits, and what follows
    wave, rest = delivery_wave(rest, 16)
    assert ids(wave) == ["d2"]
    assert ids(delivery_wave(rest, 16)[0]) == ["d4"]


def test_urgent_deliveries_are_processed_in_a_wave_of_their_own() -> None:
    batch = [delivery(1, 7, queue.URGENT_LANE), delivery(2, 1), delivery(3, 2)]
    wave, rest = delivery_wave(batch, 16)
    assert ids(wave) == ["d1"]
    assert ids(delivery_wave(rest, 16)[0]) == ["d2", "d3"]


@pytest.mark.parametrize(
    ("sent_seconds_ago", "rate", "weight", "wait"),
    [
        ([], 3, 1, None),
        ([50, 40], 3, 1, None),  # two in the minute, a third may go
        ([50, 40, 30], 3, 1, 10.0),  # the oldest of the minute leaves in 10 s
        ([70, 50, 40, 30], 3, 1, 10.0),  # one older than a minute does not count
        ([50, 40], 3, 2, 10.0),  # two more (a label set) need two free places
        ([59, 58], 3, 5, 2.0),  # a write heavier than the pace waits for an empty minute
    ],
)
def test_the_pace_is_a_sliding_minute(
    sent_seconds_ago: list[int], rate: int, weight: int, wait: float | None
) -> None:
    sent = [T - timedelta(seconds=s) for s in sent_seconds_ago]
    found = pace_wait(sent, T, rate, weight)
    assert (None if found is None else found.total_seconds()) == wait


def test_the_pace_holds_an_hour_to_its_budget() -> None:
    # 500 writes in the last hour, none in the last minute: the next waits for the oldest
    # to leave the hour.
    sent = [T - timedelta(minutes=59) + timedelta(seconds=5 * i) for i in range(HOURLY_WRITES)]
    assert pace_wait(sent, T, 80) == timedelta(minutes=1)
    assert pace_wait(sent[1:], T, 80) is None


def test_the_pace_meets_the_minute_and_the_hour_at_once() -> None:
    # The minute is full (80 in the last 30 s) and so is the hour (420 more 50 minutes ago):
    # waiting out the minute alone would only be refused again; the hour decides.
    sent = [T - timedelta(minutes=50)] * 420 + [T - timedelta(seconds=30)] * 80
    assert pace_wait(sent, T, 80) == timedelta(minutes=10)


def test_writes_held_back_queue_behind_the_slots_already_given() -> None:
    # 3 a minute, 3 sent just now, 3 more given the next minute's slots: a new write waits
    # for the minute after (not for the next minute, where it would be one too many).
    sent = [T] * 3 + [T + timedelta(minutes=1)] * 3
    assert pace_wait(sent, T, 3) == timedelta(minutes=2)


def store(world: World, n: int, body: dict[str, Any] | None = None) -> None:
    data = body or world.fake.payload("issues", "opened", REPO, n)
    raw = json.dumps(data).encode()
    world.services.db.tx(
        deliveries.record,
        delivery_id=f"d-{n}",
        event="issues",
        action="opened",
        installation_id=WORLD_INSTALLATION,
        repo=REPO,
        issue_number=n,
        body=raw.decode(),
        now=WORLD_T0,
        lane=world.services.urgency.lane("issues", data),
    )


def open_issues(
    world: World, count: int, priority: str = URGENT, affected: str = "A few (up to 10)"
) -> list[int]:
    return [
        int(
            world.fake.open_issue(
                REPO,
                title=f"Request {i}",
                user="dana",
                created_at=WORLD_T0,
                body=problem_form(priority, affected),
            )["number"]
        )
        for i in range(count)
    ]


@pytest.mark.anyio
async def test_a_failing_delivery_does_not_fail_its_wave(world: World) -> None:
    numbers = open_issues(world, 5)
    for n in numbers:
        bad = n == numbers[2]
        store(world, n, {"action": "opened", "issue": "not an issue"} if bad else None)
    await world.services.worker.drain()
    states = {n: world.services.db.tx(deliveries.get, f"d-{n}") for n in numbers}
    assert states[numbers[2]] is not None and states[numbers[2]].status == deliveries.DEAD
    for n in numbers:
        if n != numbers[2]:
            assert states[n] is not None and states[n].status == deliveries.DONE, n
            assert "priority: urgent" in world.fake.label_names(REPO, n)


@pytest.mark.anyio
async def test_a_failing_write_does_not_fail_its_wave(world: World) -> None:
    numbers = open_issues(world, 4)
    for n in numbers:
        store(world, n)
    # A 502 on a comment (not repeated at once: the post may have happened).
    world.fake.fail_next("POST", rf"/issues/{numbers[1]}/comments$", 502)
    await world.services.worker.drain()

    def commented(n: int) -> bool:
        return any("intake:comment" in c["body"] for c in world.fake.comments(REPO, n))

    assert [commented(n) for n in numbers] == [True, False, True, True]
    failed = world.services.db.tx(outbox.by_key, f"intake:comment:{REPO}#{numbers[1]}")
    assert failed is not None and failed.status == outbox.PENDING  # its retry is scheduled
    world.time.advance(seconds=60)
    await world.services.worker.drain()
    assert commented(numbers[1])
    assert sum("intake:comment" in c["body"] for c in world.fake.comments(REPO, numbers[1])) == 1


@pytest.mark.anyio
async def test_the_lanes_hold_within_a_batch_of_many_waves(world: World) -> None:
    numbers = open_issues(world, 30)  # 62 writes: within a minute's pace (80)
    for n in numbers:
        store(world, n)
    down = open_issues(world, 1, PROD, "All end users")[0]  # it arrives last
    store(world, down)
    await world.services.worker.drain()
    writes = [c.path for c in world.fake.calls if c.method == "POST" and "/issues/" in c.path]
    assert writes[:2] == [
        f"/repos/{REPO}/issues/{down}/labels",
        f"/repos/{REPO}/issues/{down}/comments",
    ]
    assert len(writes) == 2 * 31


def stored_effects(world: World, n: int) -> list[str]:
    keys = [f"intake:labels:{REPO}#{n}", f"intake:comment:{REPO}#{n}"]
    return [k for k in keys if world.services.db.tx(outbox.by_key, k) is not None]


@pytest.mark.anyio
async def test_a_delivery_and_what_it_stores_commit_together(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.webhooks import intake

    numbers = open_issues(world, 4)
    for n in numbers:
        store(world, n)
    real, broken = intake._record, numbers[2]

    def record(conn: Any, issue: Any, *rest: Any) -> None:
        real(conn, issue, *rest)  # its effects are written, then the store fails
        if issue.number == broken:
            raise RuntimeError("disk full")

    monkeypatch.setattr(intake, "_record", record)
    await world.services.worker.drain()
    states = {n: world.services.db.tx(deliveries.get, f"d-{n}") for n in numbers}
    for n in numbers:
        state = states[n]
        assert state is not None
        if n == broken:  # nothing of it was kept, and it is retried
            assert state.status == deliveries.PENDING
            assert state.last_error is not None and "disk full" in state.last_error
            assert (
                stored_effects(world, n) == []
                and world.services.db.tx(clocks.live, REPO, n) is None
            )
        else:  # its neighbours are processed, with their clocks and effects
            assert state.status == deliveries.DONE, n
            assert len(stored_effects(world, n)) == 2
            assert "priority: urgent" in world.fake.label_names(REPO, n)

    monkeypatch.setattr(intake, "_record", real)
    world.time.advance(seconds=10)
    await world.services.worker.drain()
    again = world.services.db.tx(deliveries.get, f"d-{broken}")
    assert again is not None and again.status == deliveries.DONE
    assert sum("intake:comment" in c["body"] for c in world.fake.comments(REPO, broken)) == 1


@pytest.mark.anyio
async def test_a_claim_taken_over_mid_wave_stores_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker takes a delivery over (its lease lapsed) while this one runs its
    handler: the commit renews no claim of it, so neither its effects nor `done` are kept."""
    numbers = open_issues(world, 3)
    for n in numbers:
        store(world, n)
    taken = numbers[1]
    real = world.services.policies.get

    async def policy(*args: Any) -> Any:
        world.services.db.tx(
            lambda conn: conn.execute(
                update(tables.deliveries)
                .where(tables.deliveries.c.id == f"d-{taken}")
                .values(lease_owner="other-replica")
            )
        )
        return await real(*args)

    monkeypatch.setattr(world.services.policies, "get", policy)
    await world.services.worker.drain()
    state = world.services.db.tx(deliveries.get, f"d-{taken}")
    assert state is not None and state.status == deliveries.PENDING  # the other worker's now
    assert stored_effects(world, taken) == []
    assert world.fake.label_names(REPO, taken) == []
    for n in numbers:
        if n != taken:
            assert len(stored_effects(world, n)) == 2, n


def test_a_claim_is_sure_for_a_third_of_its_lease_and_renewals_count_only_in_time() -> None:
    now = [T]
    fence = leases.Fence(lambda: now[0], timedelta(seconds=15))
    assert not fence.sure()  # nothing claimed yet
    assert fence.claimed() == T and fence.sure()
    now[0] = T + timedelta(seconds=5)
    assert not fence.sure()  # a wave sent from now on is re-checked first
    fence.renewed(T + timedelta(seconds=9))  # the heartbeat, before the lease ran out
    now[0] = T + timedelta(seconds=13)
    assert fence.sure()
    now[0] = T + timedelta(seconds=60)
    fence.renewed(now[0])  # a heartbeat after a long gap: rows may have been taken over
    assert not fence.sure()


@pytest.mark.anyio
async def test_an_effect_batch_whose_claim_lapsed_sends_nothing_another_worker_took(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process stalls after sending a label, past its lease; another worker takes the
    issue's comment over. The next wave is re-checked first: the comment is not sent."""
    (number,) = open_issues(world, 1)
    store(world, number)
    comment_key = f"intake:comment:{REPO}#{number}"
    real = ops.add_labels

    async def labels_then_stall(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        world.time.advance(seconds=60)  # the lease (15 s) lapsed meanwhile
        world.services.db.tx(
            lambda conn: conn.execute(
                update(tables.outbox)
                .where(tables.outbox.c.key == comment_key)
                .values(lease_owner="other-replica", lease_until=world.time() + LEASE)
            )
        )

    monkeypatch.setattr(ops, "add_labels", labels_then_stall)
    await world.services.worker.drain()
    assert "priority: urgent" in world.fake.label_names(REPO, number)
    assert world.fake.comments(REPO, number) == []  # the other worker's to send
    left = world.services.db.tx(outbox.by_key, comment_key)
    assert left is not None and left.status == outbox.PENDING
