"""Where a delivery's time goes in the worker (evidence for an end-to-end finding).

Not one of the five benchmarks: `e2e` runs it when its goal is missed. In this process, with
GitHub at the FakeGitHub stand-in and no Slack token, N signed-shape `issues.opened`
deliveries are stored, then the worker runs in two timed phases: processing them with
effect sending switched off, then sending the effects they queued. Database round trips
(`Database.run`, each a transaction on a worker thread) and SQL statements are counted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event

from bench import servers
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO, SECRET
from bench.results import fmt, table
from sla_sandbox.standins import FakeGitHub

T = TypeVar("T")


class Counters:
    """Database round trips and SQL statements seen so far."""

    def __init__(self) -> None:
        self.runs = 0
        self.statements = 0


async def _phase(step: Callable[[], Awaitable[T]]) -> float:
    began = time.perf_counter()
    await step()
    return (time.perf_counter() - began) * 1000


async def _probe(backend: str, db_url: str, n: int) -> dict[str, float]:
    from app.config import Settings
    from app.services import build
    from app.store import deliveries

    github = FakeGitHub(APP_ID)
    github.add_repo(REPO, INSTALLATION)
    with github.serve():
        assert github.private_key_pem is not None
        settings = Settings(
            github_app_id=APP_ID,
            github_private_key=github.private_key_pem,
            github_private_key_path=None,
            github_webhook_secret=SECRET,
            github_api_url=github.api_url,
            slack_bot_token=None,
            sla_policy_file=None,
            database_url=db_url,
            sla_sweep_interval=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
            sla_github_write_rate=0,
        )
        services = await asyncio.to_thread(build, settings)
        counters = Counters()
        real_run = services.db.run

        async def counted_run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
            counters.runs += 1
            return await real_run(fn, *args, **kwargs)

        def on_statement(*_: Any) -> None:
            counters.statements += 1

        def store(count: int) -> None:
            now = datetime.now(UTC)
            for _ in range(count):
                issue = github.open_issue(
                    REPO, title="Labels", body=FORM_BODY, user="wile-e", labels=["type: problem"]
                )
                number = int(issue["number"])
                data = github.payload("issues", "opened", REPO, number)
                services.db.tx(
                    deliveries.record,
                    delivery_id=f"probe-{number}",
                    event="issues",
                    action="opened",
                    installation_id=INSTALLATION,
                    repo=REPO,
                    issue_number=number,
                    body=json.dumps(data),
                    now=now,
                )

        async def no_sending() -> int:
            return 0

        try:
            await asyncio.to_thread(store, 3)
            await services.worker.drain()  # warm: token, policy reads, compiled statements
            await asyncio.to_thread(store, n)
            calls_before = len(github.calls)
            services.db.run = counted_run  # type: ignore[method-assign]
            event.listen(services.db.engine, "before_cursor_execute", on_statement)
            services.dispatcher.drain = no_sending  # type: ignore[method-assign]
            processing = await _phase(services.worker.drain)
            runs_p, statements_p = counters.runs, counters.statements
            github_p = len(github.calls) - calls_before
            del services.dispatcher.drain  # the real one again
            sending = await _phase(lambda: _send_all(services.dispatcher))
            event.remove(services.db.engine, "before_cursor_execute", on_statement)
        finally:
            await services.aclose()
        calls = len(github.calls) - calls_before
    return {
        "processing, ms per delivery": processing / n,
        "sending its effects, ms per delivery": sending / n,
        "worker capacity, deliveries/s": 1000 * n / (processing + sending),
        "transactions (Database.run) per delivery, processing": runs_p / n,
        "transactions per delivery, sending": (counters.runs - runs_p) / n,
        "SQL statements per delivery, processing": statements_p / n,
        "SQL statements per delivery, sending": (counters.statements - statements_p) / n,
        "GitHub calls per delivery": calls / n,
        "GitHub calls while processing": github_p,
    }


async def _send_all(dispatcher: Any) -> None:
    """The dispatcher sends at most one page of ready effects per call: call until done."""
    for _ in range(100):
        if not await dispatcher.drain():
            return


def report(workdir: Path, n: int = 200) -> str:
    from bench import logs

    columns = {}
    with logs.to_file(workdir / "worker-probe.log"):
        for backend in servers.backends():
            with servers.database(backend, workdir) as url:
                columns[backend] = asyncio.run(_probe(backend, url, n))
    names = list(next(iter(columns.values())))
    rows = [(name, *(fmt(columns[b][name]) for b in columns)) for name in names]
    return table(rows, (f"the worker, {n} issues.opened in a row", *columns))
