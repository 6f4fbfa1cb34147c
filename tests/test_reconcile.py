"""Reconciliation and missed deliveries against a GitHub-shaped API on loopback."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from app.reports import report
from app.services import build
from app.store import clocks, deliveries
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests.factories import PROD, URGENT, form_body
from tests.harness import REPO, World
from tests.harness import WORLD_INSTALLATION as INSTALLATION
from tests.harness import WORLD_T0 as T0


@pytest.mark.anyio
async def test_reconcile_rebuilds_missing_clocks_from_events_and_comments(world: World) -> None:
    fake = world.fake
    fake.open_issue(
        REPO, title="Down", body=None, user="dana", created_at=T0, labels=("priority: urgent",)
    )
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
    fake.open_issue(
        REPO, title="Down", body=None, user="dana", created_at=T0, labels=("priority: urgent",)
    )
    await world.reconcile(T0 + timedelta(minutes=10))
    # Missed deliveries: the response and a relabel never reached us.
    fake.add_comment(REPO, 1, "on it", "bo", "MEMBER", at=T0 + timedelta(minutes=30))
    assert await world.reconcile(T0 + timedelta(hours=1)) == {"met": 1}
    fake.remove_label(REPO, 1, "priority: urgent", "bo", at=T0 + timedelta(hours=2))
    assert await world.reconcile(T0 + timedelta(hours=3)) == {"unchanged": 1}  # met stays met
    fake.open_issue(
        REPO, title="Later", body=None, user="kim", created_at=T0, labels=("priority: normal",)
    )
    await world.reconcile(T0 + timedelta(hours=3))
    fake.remove_label(REPO, 2, "priority: normal", "bo", at=T0 + timedelta(hours=4))
    assert (await world.reconcile(T0 + timedelta(hours=5)))["dropped"] == 1
    assert [c.state for c in world.clocks(2)] == ["dropped"]


@pytest.mark.anyio
async def test_a_repeat_reconcile_of_an_unchanged_repo_costs_no_rate_limit(world: World) -> None:
    fake = world.fake
    for n in range(3):
        fake.open_issue(
            REPO, title=f"#{n}", body=None, user="dana", created_at=T0, labels=("priority: normal",)
        )
    await world.reconcile(T0 + timedelta(minutes=5))
    before = fake.rate_remaining(INSTALLATION)
    fake.reset_calls()
    assert await world.reconcile(T0 + timedelta(minutes=10)) == {"unchanged": 3}
    assert fake.rate_remaining(INSTALLATION) == before  # every GET answered 304
    assert fake.calls and {c.status for c in fake.calls} == {304}


@pytest.mark.anyio
async def test_reconcile_command(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli.main import main
    from app.time_source import system_time

    world.time.now = system_time()  # the command runs on the machine's clock, so GitHub does
    world.fake.open_issue(
        REPO, title="x", body=None, user="dana", created_at=T0, labels=("priority: urgent",)
    )
    settings = world.services.settings
    for name, value in {
        "GITHUB_APP_ID": settings.github_app_id,
        "GITHUB_PRIVATE_KEY": settings.private_key(),
        "GITHUB_API_URL": settings.github_api_url,
        "DATABASE_URL": settings.database_url,
    }.items():
        monkeypatch.setenv(name, str(value))
    assert await anyio.to_thread.run_sync(main, ["reconcile", "--repo", REPO]) == 0
    assert f"{REPO}: 1 created" in capsys.readouterr().out


@pytest.mark.anyio
async def test_missed_deliveries_are_redelivered_once_each(world: World) -> None:
    from app.jobs.redeliver import find_missed

    fake = world.fake
    now = world.time.advance(hours=1)
    for guid, status, minutes in (("lost-1", 503, 5), ("ok-1", 202, 4), ("stored-1", 504, 3)):
        fake.add_hook_delivery(
            "issues",
            "opened",
            guid=guid,
            status_code=status,
            delivered_at=now - timedelta(minutes=minutes),
        )
    fake.add_hook_delivery(
        "issues", "opened", guid="old", status_code=500, delivered_at=now - timedelta(days=2)
    )  # before `since`: not asked
    world.services.db.tx(
        deliveries.record,
        delivery_id="stored-1",
        event="issues",
        action="opened",
        installation_id=INSTALLATION,
        repo=REPO,
        issue_number=1,
        body="{}",
        now=now,
    )
    services = world.services
    assert services.github is not None

    counts = []
    for _ in range(2):
        since = now - timedelta(hours=1)
        counts.append(await find_missed(services.github, services.db, since, now))
        await services.jobs.drain()
    assert counts == [1, 0]
    assert len(fake.redeliveries) == 1


@pytest.mark.anyio
async def test_a_reconcile_in_a_new_process_is_conditional_too(world: World) -> None:
    fake = world.fake
    for n in range(3):
        fake.open_issue(
            REPO, title=f"#{n}", body=None, user="dana", created_at=T0, labels=("priority: normal",)
        )
    await world.reconcile(T0 + timedelta(minutes=5))
    # A cron-style `sla-bot reconcile`: new services, nothing in memory, the same store.
    fresh = build(world.services.settings, time=world.time, require_secret=False)
    try:
        fake.reset_calls()
        again = World(fake, fresh, world.time)
        assert await again.reconcile(T0 + timedelta(minutes=10)) == {"unchanged": 3}
    finally:
        await fresh.aclose()
    history = [c for c in fake.calls if "/issues" in c.path]
    assert history and {c.status for c in history} == {304}  # only the policy reads cost


def problem(priority: str, affected: str) -> str:
    return form_body("problem", priority).replace("All end users", affected)


def writes(fake: FakeGitHub) -> list[str]:
    return [
        f"{c.method} {c.path}"
        for c in fake.calls
        if c.method != "GET" and "/access_tokens" not in c.path
    ]


@pytest.mark.anyio
async def test_a_week_processed_then_reconciled_twice_changes_nothing(
    world: World, fake_slack: FakeSlack
) -> None:
    """Reconcile is conservative: met, breached and stopped clocks stay so, no page is sent
    again, and the report the support lead shows does not move."""
    fake, h, m = world.fake, (lambda n: T0 + timedelta(hours=n)), timedelta(minutes=1)
    # 1: urgent, answered in 30 minutes.
    fake.open_issue(
        REPO, title="Login", body=problem(URGENT, "A few"), user="dana", created_at=h(0)
    )
    await world.deliver("issues", "opened", 1, h(0) + m)
    fake.add_comment(REPO, 1, "On it", "bo", "MEMBER", at=h(0) + 30 * m)
    await world.deliver(
        "issue_comment", "created", 1, h(0) + 31 * m, comment=fake.comments(REPO, 1)[-1]["id"]
    )
    # 2: production down, paged, nobody answered: breached after 30 minutes.
    fake.open_issue(
        REPO, title="Down", body=problem(PROD, "All end users"), user="kim", created_at=h(1)
    )
    await world.deliver("issues", "opened", 2, h(1) + m)
    await world.sweep(h(1) + 31 * m)
    # 3: normal, reaching the app three hours late (its label is put on then).
    fake.open_issue(REPO, title="Question", body=None, user="lee", created_at=h(2))
    await world.deliver("issues", "opened", 3, h(5))
    # 4: urgent, closed, reopened unanswered (a new clock), then answered.
    fake.open_issue(
        REPO, title="Export", body=problem(URGENT, "A few"), user="ann", created_at=h(3)
    )
    await world.deliver("issues", "opened", 4, h(3) + m)
    fake.close_issue(REPO, 4, "ann", at=h(3) + 10 * m)
    await world.deliver("issues", "closed", 4, h(3) + 11 * m)
    fake.reopen_issue(REPO, 4, "ann", at=h(3) + 20 * m)
    await world.deliver("issues", "reopened", 4, h(3) + 21 * m)
    fake.add_comment(REPO, 4, "Fixed the export", "bo", "MEMBER", at=h(3) + 40 * m)
    await world.deliver(
        "issue_comment", "created", 4, h(3) + 41 * m, comment=fake.comments(REPO, 4)[-1]["id"]
    )
    # The rest of the week: #3 breaches the next business day.
    await world.sweep(T0 + timedelta(days=2))

    now = T0 + timedelta(days=5)
    world.time.now = now
    since = T0 - timedelta(days=1)
    before = report.summarize(world.services.db.tx(clocks.started_since, since), now)
    states = {n: [c.state for c in world.clocks(n)] for n in range(1, 5)}
    assert states == {1: ["met"], 2: ["breached"], 3: ["breached"], 4: ["stopped", "met"]}
    github_writes, slack_posts = len(writes(fake)), len(fake_slack.messages)

    for _ in range(2):
        assert await world.reconcile(now) == {"unchanged": 4}
        await world.services.worker.drain()
        await world.sweep(now)

    after = report.summarize(world.services.db.tx(clocks.started_since, since), now)
    assert after == before
    assert {n: [c.state for c in world.clocks(n)] for n in range(1, 5)} == states
    assert len(writes(fake)) == github_writes  # no label, no comment again
    assert len(fake_slack.messages) == slack_posts  # no page, no alert again


@pytest.mark.anyio
async def test_reconcile_ends_the_clocks_of_deleted_closed_and_moved_issues(
    world: World, fake_slack: FakeSlack
) -> None:
    fake = world.fake
    for n in range(1, 4):
        fake.open_issue(
            REPO, title=f"#{n}", body=problem(URGENT, "A few"), user="dana", created_at=T0
        )
        await world.deliver("issues", "opened", n, T0 + timedelta(seconds=30))
    # None of these reached the app: a deletion, a close, and a close as not planned.
    fake.delete_issue(REPO, 1)
    fake.close_issue(REPO, 2, "dana", at=T0 + timedelta(minutes=20))
    fake.close_issue(REPO, 3, "dana", at=T0 + timedelta(minutes=25), reason="not_planned")
    posts = len(fake_slack.messages)
    changes = await world.reconcile(T0 + timedelta(hours=3))
    assert changes == {"deleted": 1, "closed": 2}
    assert [c.state for n in range(1, 4) for c in world.clocks(n)] == ["stopped"] * 3
    assert world.clocks(2)[0].ended_at == T0 + timedelta(minutes=20)
    await world.sweep(T0 + timedelta(days=3))
    assert len(fake_slack.messages) == posts  # ended silently: nothing ever breaches
    assert await world.reconcile(T0 + timedelta(days=3)) == {}
