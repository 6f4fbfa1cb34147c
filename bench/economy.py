"""4. API economy: GitHub calls per issue lifecycle, per idle sweep, per unchanged reconcile.

Counted at the FakeGitHub stand-in (sla_sandbox/standins), served on loopback. The app runs in this
process on one event loop: its lifespan started as `serve` starts it, signed deliveries sent
through its ASGI app, and the worker drained after each one, so every call the app makes
for a step is counted against that step. Each lifecycle step is delivered as GitHub would
deliver it, including the echoes of the app's own label and comment.

"Rate-limit cost" is the stand-in's count of calls that used the installation's primary
rate limit: a 304 to a conditional request costs nothing, as on GitHub; App-JWT calls
(token exchanges) are on another budget and shown apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import logs, servers
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO, SECRET, guid, sign
from bench.results import Result
from sla_sandbox.standins import FakeGitHub

NAME = "economy"
TITLE = "4. API economy: GitHub calls counted at the stand-in"
RESPONDER = "support-sam"
PRODUCTION_DOWN = FORM_BODY.replace(
    "Urgent — blocking work or affecting end users (response within 1 business hour)",
    "Production down — many end users cannot work (Problem/Troubleshooting only; on-call is "
    "paged, response within 30 minutes 24/7)",
).replace("A few (up to 10)", "All end users")


@dataclass
class Count:
    calls: int  # every request the app made
    cost: int  # installation requests that used primary rate limit
    app_calls: int  # requests with the App JWT (token exchanges, /app endpoints)
    costly: tuple[str, ...] = ()  # those rate-limited requests, "GET /path -> 404"

    def __str__(self) -> str:
        return f"{self.calls} calls, {self.cost} rate-limited, {self.app_calls} as the App"


class SimTime:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def count(github: FakeGitHub, since: int) -> Count:
    calls = github.calls[since:]
    as_app = [c for c in calls if (c.authorization or "").lower().startswith("bearer")]
    costly = tuple(
        f"{c.method} {c.path} → {c.status}" for c in calls if c.counted and c not in as_app
    )
    return Count(len(calls), len(costly), len(as_app), costly)


class App:
    """sla-bot's services and ASGI app on this loop, GitHub at the stand-in."""

    def __init__(self, github: FakeGitHub, db_url: str, time: SimTime) -> None:
        from app.config import Settings

        assert github.private_key_pem is not None
        self.github = github
        self.time = time
        self.settings = Settings(
            github_app_id=APP_ID,
            github_private_key=github.private_key_pem,
            github_private_key_path=None,
            github_webhook_secret=SECRET,
            github_api_url=github.api_url,
            slack_bot_token=None,
            sla_policy_file=None,
            database_url=db_url,
            sla_sweep_interval=0,
            sla_github_write_rate=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
        )
        self.tag = uuid.uuid4().hex[:4]
        self.sent = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[App]:
        from app.http.main import create_app
        from app.services import build

        self.services = await asyncio.to_thread(build, self.settings, time=self.time)
        app = create_app(self.settings, services=self.services)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://sla-bot") as self.http,
        ):
            yield self

    async def deliver(self, event: str, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.sent += 1
        response = await self.http.post(
            "/webhooks/github",
            content=body,
            headers={
                "content-type": "application/json",
                "x-github-event": event,
                "x-github-delivery": guid(self.tag, self.sent),
                "x-hub-signature-256": sign(body),
            },
        )
        if response.status_code != 202:
            raise RuntimeError(f"{event} answered {response.status_code}: {response.text}")
        await self.services.worker.drain()


async def lifecycle(app: App, body: str = FORM_BODY) -> Count:
    """opened, labeled, answered, closed: every delivery GitHub would send for them."""
    gh, since = app.github, len(app.github.calls)
    number = int(
        gh.open_issue(
            REPO, title="Labels do not print", body=body, user="wile-e", labels=["type: problem"]
        )["number"]
    )
    await app.deliver("issues", gh.payload("issues", "opened", REPO, number))
    await app.deliver(
        "issues", gh.payload("issues", "labeled", REPO, number, label="type: problem")
    )
    for name in gh.label_names(REPO, number):
        if name != "type: problem":  # the app's own labels come back as deliveries too
            await app.deliver("issues", gh.payload("issues", "labeled", REPO, number, label=name))
    for comment in gh.comments(REPO, number):  # and so does its intake comment
        await app.deliver(
            "issue_comment",
            gh.payload("issue_comment", "created", REPO, number, comment=comment["id"]),
        )
    gh.add_comment(REPO, number, "Looking into it now.", RESPONDER, association="MEMBER")
    await app.deliver("issue_comment", gh.payload("issue_comment", "created", REPO, number))
    gh.close_issue(REPO, number, RESPONDER)
    await app.deliver("issues", gh.payload("issues", "closed", REPO, number))
    return count(gh, since)


async def open_only(app: App, n: int) -> None:
    gh = app.github
    for _ in range(n):
        number = int(
            gh.open_issue(
                REPO, title="Still open", body=FORM_BODY, user="wile-e", labels=["type: problem"]
            )["number"]
        )
        await app.deliver("issues", gh.payload("issues", "opened", REPO, number))


async def measured(app: App, step: Callable[[], Any]) -> Count:
    since = len(app.github.calls)
    await step()
    return count(app.github, since)


def cli_reconcile(github: FakeGitHub, db_url: str, workdir: Path) -> Count:
    """`sla-bot reconcile` as cron would run it: a new process each time."""
    assert github.private_key_pem is not None
    env = servers.child_env(
        GITHUB_APP_ID=APP_ID,
        GITHUB_PRIVATE_KEY=github.private_key_pem,
        GITHUB_API_URL=github.api_url,
        DATABASE_URL=db_url,
    )
    command = [*servers.slabot_command(0)[:-5], "reconcile", "--repo", REPO]
    since = len(github.calls)
    with (workdir / "reconcile.log").open("ab") as log:
        subprocess.run(
            command, cwd=servers.ROOT, env=env, stdout=log, stderr=log, timeout=120, check=True
        )
    return count(github, since)


@dataclass(frozen=True)
class Plan:
    lifecycles: int
    sweeps: int
    open_issues: int


FULL = Plan(lifecycles=7, sweeps=5, open_issues=10)
QUICK = Plan(lifecycles=2, sweeps=1, open_issues=2)


async def _measure(
    plan: Plan, github: FakeGitHub, db_url: str, time: SimTime
) -> dict[str, list[Count]]:
    found: dict[str, list[Count]] = {}
    async with App(github, db_url, time).running() as app:
        found["install"] = [
            await measured(
                app,
                lambda: app.deliver(
                    "installation", github.payload("installation", "created", REPO)
                ),
            )
        ]
        found["lifecycle"] = [await lifecycle(app) for _ in range(plan.lifecycles)]
        found["production-down"] = [await lifecycle(app, PRODUCTION_DOWN)]
        await open_only(app, plan.open_issues)
        found["sweep"] = [
            await measured(app, lambda: app.services.sweeper.sweep(time()))
            for _ in range(plan.sweeps)
        ]
        reconciler = app.services.reconciler
        if reconciler is not None:

            async def reconcile() -> None:
                assert reconciler is not None
                await reconciler.repo(INSTALLATION, REPO, time())
                await app.services.worker.drain()

            found["reconcile-first"] = [await measured(app, reconcile)]
            found["reconcile-again"] = [await measured(app, reconcile)]
            interval = app.settings.sla_reconcile_interval or 21600.0
            time.now += timedelta(seconds=interval)
            found["reconcile-later"] = [await measured(app, reconcile)]
    async with App(github, db_url, time).running() as app:  # a restarted `serve`
        found["first"] = [await lifecycle(app)]
    return found


def run(quick: bool = False) -> list[Result]:
    plan = QUICK if quick else FULL
    time = SimTime()  # the app's and the stand-in's: tokens expire when the app expects
    github = FakeGitHub(APP_ID, time=time)
    github.add_repo(REPO, INSTALLATION)
    with tempfile.TemporaryDirectory(prefix="sla-bench-") as tmp, github.serve():
        workdir = Path(tmp)
        with servers.database("sqlite", workdir) as db_url:
            with logs.to_file(workdir / "economy.log"):
                found = asyncio.run(_measure(plan, github, db_url, time))
            if "reconcile-first" in found:
                time.now = datetime.now(UTC)  # the command runs on the machine's clock
                cli_reconcile(github, db_url, workdir)
                found["reconcile-cli"] = [cli_reconcile(github, db_url, workdir)]
    return _results(found)


def _row(
    name: str, counts: list[Count], attr: str, limit: float | None = None, **kw: Any
) -> Result:
    note = kw.pop("note", "")
    seen = "; ".join(sorted({str(c) for c in counts}))
    result = Result(
        NAME,
        name,
        "",
        [float(getattr(c, attr)) for c in counts],
        note=(note + "; " if note else "") + seen,
        **kw,
    )
    if limit is not None and result.check(limit).met is False:
        costly = sorted({call for c in counts for call in c.costly})
        result.detail = "The requests that used the installation's rate limit:\n\n" + "\n".join(
            f"- `{call}`" for call in costly
        )
    return result


def _results(found: dict[str, list[Count]]) -> list[Result]:
    out = [
        _row(
            "calls per issue lifecycle (opened, labeled, answered, closed)",
            found["lifecycle"],
            "calls",
            goal="≤ 3",
            limit=3,
            note="steady state: token and policy cached",
        ),
        _row(
            "calls for the first lifecycle after a restart",
            found["first"],
            "calls",
            note="adds the installation token and the policy file reads (repo, org)",
        ),
        _row(
            "calls per production-down lifecycle",
            found["production-down"],
            "calls",
            note="by design adds the post-mortem label and checklist on close",
        ),
        _row("calls per installation (labels created)", found["install"], "calls"),
        _row("calls per idle sweep (nothing due)", found["sweep"], "calls", goal="0", limit=0),
    ]
    if "reconcile-again" not in found:
        out.append(
            Result(
                NAME,
                "rate-limit cost per reconcile of an unchanged repo",
                "",
                [],
                goal="0",
                note="not implemented (no `sla-bot reconcile`)",
            )
        )
        return out
    out += [
        _row("reconcile: the first one (fills the ETag cache)", found["reconcile-first"], "cost"),
        _row(
            "rate-limit cost per reconcile of an unchanged repo, repeated at once",
            found["reconcile-again"],
            "cost",
            goal="0",
            limit=0,
        ),
        _row(
            "rate-limit cost per periodic reconcile of an unchanged repo, one interval later",
            found["reconcile-later"],
            "cost",
            goal="0",
            limit=0,
            note="SLA_RECONCILE_INTERVAL later, in the same `serve` process",
        ),
        _row(
            "rate-limit cost per `sla-bot reconcile` of an unchanged repo (a new process)",
            found["reconcile-cli"],
            "cost",
            note="cron-style: no ETags carried over",
        ),
    ]
    return out
