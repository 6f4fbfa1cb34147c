"""A push that changes a policy file applies it at once; an unchanged policy costs nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.github.policies import POLICY_PATH, PolicyLoader
from app.sla.policy import DEFAULT_POLICY
from app.store import deliveries, repos
from app.webhooks.push import changes_policy
from tests.factories import URGENT, problem_form
from tests.harness import REPO, WORLD_INSTALLATION, World

pytestmark = pytest.mark.anyio


def push(files: list[str], *, ref: str = "refs/heads/main", **more: Any) -> dict[str, Any]:
    """A push delivery as GitHub sends it (the fields sla-bot reads, and a few around them)."""
    commit = {"id": "c0ffee", "message": "Edit", "added": [], "removed": [], "modified": files}
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": "c0ffee" + "0" * 34,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "head_commit": commit,
        "repository": {"full_name": REPO, "name": REPO.split("/")[1], "default_branch": "main"},
        "installation": {"id": WORLD_INSTALLATION},
        "sender": {"login": "dana", "type": "User"},
        **more,
    }


async def opened_comment(world: World, title: str) -> str:
    """Open a request, deliver it, and return the intake comment sla-bot wrote."""
    body = problem_form(URGENT, "A few (up to 10)")
    issue = world.fake.open_issue(
        REPO, title=title, user="dana", created_at=world.time(), body=body
    )
    n = int(issue["number"])
    await world.deliver("issues", "opened", n, world.time())
    return "\n".join(c["body"] for c in world.fake.comments(REPO, n))


async def deliver_push(world: World, data: dict[str, Any]) -> None:
    world.services.db.tx(
        deliveries.record,
        delivery_id=f"push-{uuid.uuid4()}",
        event="push",
        action=None,
        installation_id=WORLD_INSTALLATION,
        repo=REPO,
        issue_number=None,
        body=json.dumps(data),
        now=world.time(),
    )
    await world.services.worker.drain()


def policy_reads(world: World) -> int:
    return len(world.fake.calls_to("GET", r"/contents/\.github/sla\.yml"))


async def test_a_push_that_changes_the_policy_applies_it_at_once(world: World) -> None:
    world.fake.set_file(REPO, POLICY_PATH, "timezone: America/New_York\n")
    assert "(America/New_York)" in await opened_comment(world, "Before")
    world.fake.set_file(REPO, POLICY_PATH, "timezone: Asia/Tokyo\n")
    await deliver_push(world, push([POLICY_PATH]))
    assert "(Asia/Tokyo)" in await opened_comment(world, "After")  # no cache to wait out
    assert world.services.db.tx(repos.policy_version, REPO) == 1


async def test_other_pushes_and_time_cost_no_policy_reads(world: World) -> None:
    world.fake.set_file(REPO, POLICY_PATH, "timezone: America/New_York\n")
    await opened_comment(world, "First")
    reads = policy_reads(world)
    await deliver_push(world, push(["README.md"]))  # another file
    await deliver_push(world, push([POLICY_PATH], ref="refs/heads/draft"))  # another branch
    world.time.advance(hours=7)  # past the old 10-minute cache and a periodic reconcile
    assert "(America/New_York)" in await opened_comment(world, "Later")
    assert policy_reads(world) == reads  # nothing changed on the default branch: no read
    assert world.services.db.tx(repos.policy_version, REPO) == 0


def test_a_push_is_read_as_a_policy_change_when_it_may_be_one() -> None:
    assert changes_policy(push([POLICY_PATH]))
    assert not changes_policy(push(["docs/README.md"]))
    assert changes_policy(push([], forced=True))  # history rewritten
    assert changes_policy(push(["a.txt"], commits=[{"modified": ["a.txt"]}] * 20))  # GitHub's cap


async def test_a_loader_rereads_only_when_the_version_moves_or_its_time_is_up() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    versions: dict[str, int | None] = {REPO: 0, "acme/untracked": None}
    looked: list[str] = []

    async def version(repo: str) -> int | None:
        looked.append(repo)
        return versions[repo]

    loader = PolicyLoader(None, DEFAULT_POLICY, lambda: now, versions=version)
    loads: list[str] = []
    real = loader._load

    async def load(installation: int | None, repo: str) -> Any:
        loads.append(repo)
        return await real(installation, repo)

    loader._load = load  # type: ignore[method-assign]

    async def get(repo: str, after: timedelta) -> None:
        nonlocal now
        now += after
        await loader.get(WORLD_INSTALLATION, repo)

    await get(REPO, timedelta(0))
    await get(REPO, timedelta(seconds=10))  # within the check: not even the store is asked
    assert (loads, looked) == ([REPO], [REPO])
    await get(REPO, timedelta(hours=5))  # the same version: kept, whatever the time
    assert loads == [REPO] and len(looked) == 2
    versions[REPO] = 1  # a push, seen by another replica
    await get(REPO, timedelta(seconds=31))
    assert loads == [REPO, REPO]
    await get(REPO, timedelta(hours=25))  # a push lost: read again after a day anyway
    assert loads == [REPO] * 3
    await get("acme/untracked", timedelta(0))  # not tracked: the 10-minute cache
    await get("acme/untracked", timedelta(minutes=5))
    await get("acme/untracked", timedelta(minutes=6))
    assert loads == [REPO] * 3 + ["acme/untracked"] * 2


async def test_a_wave_of_deliveries_about_an_uncached_repository_reads_its_policy_once(
    world: World,
) -> None:
    world.fake.set_file(REPO, POLICY_PATH, "timezone: America/New_York\n")
    loader = world.services.policies
    before = policy_reads(world)
    policies = await asyncio.gather(*(loader.get(WORLD_INSTALLATION, REPO) for _ in range(32)))
    assert policy_reads(world) - before == 2  # one load (the org's file and the repo's)
    assert {str(p.tz) for p in policies} == {"America/New_York"}


async def test_a_push_without_its_repository_is_kept_dead_with_the_reason(world: World) -> None:
    data = push([POLICY_PATH])
    del data["repository"]
    await deliver_push(world, data)
    found = world.services.db.tx(deliveries.failed)
    assert len(found) == 1 and found[0].status == deliveries.DEAD
    assert (
        found[0].last_error is not None
        and "push: missing or malformed field" in found[0].last_error
    )
    assert world.services.db.tx(repos.policy_version, REPO) == 0  # nothing changed
