"""Reconciliation and missed deliveries against a GitHub-shaped API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from app.config import Settings
from app.services import Services, build
from app.standins import FakeGitHub
from app.store import clocks, deliveries, repos
from tests.harness import MutableClock

REPO = "acme/support"
INSTALLATION = 77
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam


class World:
    def __init__(self, fake: FakeGitHub, services: Services, clock: MutableClock) -> None:
        self.fake, self.services, self.clock = fake, services, clock

    async def reconcile(self, now: datetime) -> dict[str, int]:
        reconciler = self.services.dispatcher.reconciler
        assert reconciler is not None
        return dict(await reconciler.repo(INSTALLATION, REPO, now))

    def clocks(self, n: int) -> list[clocks.Clock]:
        return self.services.db.tx(clocks.history, REPO, n)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = MutableClock(T0)  # the app and GitHub share one clock: tokens expire on it
    fake = FakeGitHub(clock=clock)
    with fake.serve():
        fake.add_repo(REPO, INSTALLATION)
        settings = Settings(
            github_app_id=fake.app_id, github_private_key=fake.private_key_pem,
            github_api_url=fake.api_url, database_url=f"sqlite:///{tmp_path / 'r.db'}",
        )  # fmt: skip
        services = build(settings, clock=clock, require_secret=False)
        services.db.tx(repos.add, REPO, INSTALLATION, T0)
        yield World(fake, services, clock)
        await services.aclose()


@pytest.mark.anyio
async def test_reconcile_rebuilds_missing_clocks_from_events_and_comments(world: World) -> None:
    fake = world.fake
    fake.open_issue(REPO, title="Down", body=None, user="dana", created_at=T0,
                    labels=("priority: urgent",))  # fmt: skip
    fake.open_issue(REPO, title="Q", body=None, user="kim", created_at=T0)
    fake.add_label(REPO, 2, "priority: normal", "bo", at=T0 + timedelta(minutes=1))
    fake.add_label(REPO, 2, "priority: urgent", "bo", at=T0 + timedelta(hours=2))
    fake.add_comment(REPO, 2, "looking", "bo", "MEMBER", at=T0 + timedelta(hours=2, minutes=20))
    fake.add_comment(REPO, 1, "me again", "dana", "NONE", at=T0 + timedelta(minutes=5))
    changes = await world.reconcile(T0 + timedelta(hours=3))
    assert changes == {"created": 2}
    (one,) = world.clocks(1)
    assert (one.priority, one.state, one.started_at) == ("urgent", "running", T0)
    (two,) = world.clocks(2)  # relabeled to urgent at 10:00 and answered at 10:20
    assert (two.priority, two.state, two.started_at) == ("urgent", "met", T0 + timedelta(hours=2))
    assert two.responder == "bo"


@pytest.mark.anyio
async def test_reconcile_fixes_what_the_store_got_wrong(world: World) -> None:
    fake = world.fake
    fake.open_issue(REPO, title="Down", body=None, user="dana", created_at=T0,
                    labels=("priority: urgent",))  # fmt: skip
    await world.reconcile(T0 + timedelta(minutes=10))
    # Missed deliveries: the response and a relabel never reached us.
    fake.add_comment(REPO, 1, "on it", "bo", "MEMBER", at=T0 + timedelta(minutes=30))
    assert await world.reconcile(T0 + timedelta(hours=1)) == {"met": 1}
    fake.remove_label(REPO, 1, "priority: urgent", "bo", at=T0 + timedelta(hours=2))
    assert await world.reconcile(T0 + timedelta(hours=3)) == {"unchanged": 1}  # met stays met
    fake.open_issue(REPO, title="Later", body=None, user="kim", created_at=T0,
                    labels=("priority: normal",))  # fmt: skip
    await world.reconcile(T0 + timedelta(hours=3))
    fake.remove_label(REPO, 2, "priority: normal", "bo", at=T0 + timedelta(hours=4))
    assert (await world.reconcile(T0 + timedelta(hours=5)))["dropped"] == 1
    assert [c.state for c in world.clocks(2)] == ["dropped"]


@pytest.mark.anyio
async def test_a_repeat_reconcile_of_an_unchanged_repo_costs_no_rate_limit(world: World) -> None:
    fake = world.fake
    for n in range(3):
        fake.open_issue(REPO, title=f"#{n}", body=None, user="dana", created_at=T0,
                        labels=("priority: normal",))  # fmt: skip
    await world.reconcile(T0 + timedelta(minutes=5))
    before = fake.rate_remaining(INSTALLATION)
    fake.reset_calls()
    assert await world.reconcile(T0 + timedelta(minutes=10)) == {"unchanged": 3}
    assert fake.rate_remaining(INSTALLATION) == before  # every GET answered 304
    assert fake.calls and {c.status for c in fake.calls} == {304}


@pytest.mark.anyio
async def test_reconcile_command(world: World, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from app.cli import main
    from app.services import system_clock

    world.clock.now = system_clock()  # the command runs on the machine's clock, so GitHub does
    world.fake.open_issue(REPO, title="x", body=None, user="dana", created_at=T0,
                          labels=("priority: urgent",))  # fmt: skip
    settings = world.services.settings
    for name, value in {"GITHUB_APP_ID": settings.github_app_id,
                        "GITHUB_PRIVATE_KEY": settings.private_key(),
                        "GITHUB_API_URL": settings.github_api_url,
                        "DATABASE_URL": settings.database_url}.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    assert await anyio.to_thread.run_sync(main, ["reconcile", "--repo", REPO]) == 0
    assert f"{REPO}: 1 created" in capsys.readouterr().out


@pytest.mark.anyio
async def test_missed_deliveries_are_redelivered_once_each(world: World) -> None:
    from app.redeliver import find_missed

    fake = world.fake
    now = world.clock.advance(hours=1)
    for guid, status, minutes in (("lost-1", 503, 5), ("ok-1", 202, 4), ("stored-1", 504, 3)):
        fake.add_hook_delivery("issues", "opened", guid=guid, status_code=status,
                               delivered_at=now - timedelta(minutes=minutes))  # fmt: skip
    fake.add_hook_delivery(
        "issues", "opened", guid="old", status_code=500, delivered_at=now - timedelta(days=2)
    )  # before `since`: not asked
    world.services.db.tx(
        deliveries.record, delivery_id="stored-1", event="issues", action="opened",
        installation_id=INSTALLATION, repo=REPO, issue_number=1, body="{}", now=now,
    )  # fmt: skip
    services = world.services
    assert services.github is not None

    counts = []
    for _ in range(2):
        since = now - timedelta(hours=1)
        counts.append(await find_missed(services.github, services.db, since, now))
        await services.dispatcher.drain()
    assert counts == [1, 0]
    assert len(fake.redeliveries) == 1


@pytest.mark.anyio
async def test_a_reconcile_in_a_new_process_is_conditional_too(world: World) -> None:
    fake = world.fake
    for n in range(3):
        fake.open_issue(REPO, title=f"#{n}", body=None, user="dana", created_at=T0,
                        labels=("priority: normal",))  # fmt: skip
    await world.reconcile(T0 + timedelta(minutes=5))
    # A cron-style `sla-bot reconcile`: new services, nothing in memory, the same store.
    fresh = build(world.services.settings, clock=world.clock, require_secret=False)
    try:
        fake.reset_calls()
        again = World(fake, fresh, world.clock)
        assert await again.reconcile(T0 + timedelta(minutes=10)) == {"unchanged": 3}
    finally:
        await fresh.aclose()
    history = [c for c in fake.calls if "/issues" in c.path]
    assert history and {c.status for c in history} == {304}  # only the policy reads cost
