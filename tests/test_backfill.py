"""Backfill on install: open issues nobody prioritised are labeled, quietly and paced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.store import clocks, outbox
from tests.factories import URGENT, problem_form
from tests.harness import REPO, WORLD_T0, World

pytestmark = pytest.mark.anyio
OLD = WORLD_T0 - timedelta(days=40)


def old_issue(world: World) -> int:
    issue = world.fake.open_issue(
        REPO,
        title="Old request",
        body=problem_form(URGENT, "A few (up to 10)"),
        user="dana",
        created_at=OLD,
    )
    return int(issue["number"])


async def test_an_unprioritised_old_issue_is_labeled_without_a_comment(world: World) -> None:
    n = old_issue(world)
    assert await world.reconcile(WORLD_T0) == {"labeled": 1}
    queued = world.services.db.tx(outbox.by_key, f"reconcile:labels:{REPO}#{n}")
    assert queued is not None and queued.payload["labels"] == ["priority: urgent", "type: problem"]
    live = world.services.db.tx(clocks.live, REPO, n)
    assert live is not None and live.started_at == WORLD_T0  # from its labeling, not 40 days
    # A reconcile before the (paced) label went out leaves the clock alone.
    assert await world.reconcile(WORLD_T0 + timedelta(minutes=1)) == {"unchanged": 1}
    assert world.services.db.tx(clocks.live, REPO, n) == live
    await world.services.worker.drain()
    assert "priority: urgent" in world.fake.label_names(REPO, n)
    assert world.fake.comments(REPO, n) == []  # no intake comment on an old issue
    assert await world.reconcile(WORLD_T0 + timedelta(minutes=2)) == {"unchanged": 1}


async def test_a_priority_a_person_took_off_is_not_put_back(world: World) -> None:
    n = old_issue(world)
    world.fake.add_label(REPO, n, "priority: normal", "kim", at=OLD + timedelta(hours=1))
    world.fake.remove_label(REPO, n, "priority: normal", "kim", at=OLD + timedelta(hours=2))
    assert await world.reconcile(WORLD_T0) == {"unchanged": 1}
    assert world.services.db.tx(outbox.by_key, f"reconcile:labels:{REPO}#{n}") is None
    assert world.services.db.tx(clocks.live, REPO, n) is None
