"""3. Sweep scaling: one sweep's time against running clocks and due clocks.

Clocks are inserted straight into the store's `clocks` table in bulk: N running clocks due
in the future (1 hour to 30 days ahead, early warnings ahead too) and D running clocks
already due (their early warning already sent). The sweeper is `app.services.build`'s,
with a LogNotifier (no Slack token) and no GitHub, at a fixed `now` inside business hours.

- decision: the sweep with a dispatcher that sends nothing: the index reads, the
  transitions and the outbox rows they write.
- whole: `Sweeper.sweep(now)` as `serve` runs it, sending the outbox too: Slack alerts go
  to the log, and GitHub labels wait for credentials (one retry scheduled each).

Between repetitions the due clocks are put back to running and the outbox is emptied. On
PostgreSQL the tables are ANALYZEd after each bulk insert, as autovacuum would soon do.
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update

from bench import logs, profile, servers
from bench.results import Result, fmt

NAME = "sweep"
TITLE = "3. Sweep scaling: running clocks against due clocks"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday, 11:00 in Amsterdam
DUE_BASE = 50_000_000  # issue numbers of due clocks
REPOS = [f"acme/support-{i}" for i in range(20)]


@dataclass(frozen=True)
class Plan:
    running: tuple[int, ...]
    due: tuple[int, ...]
    reps_idle: int
    reps_due: int


FULL = Plan(running=(1_000, 10_000, 100_000), due=(0, 10, 1_000), reps_idle=15, reps_due=3)
QUICK = Plan(running=(100,), due=(0, 10), reps_idle=2, reps_due=1)


class NoSending:
    """A dispatcher that sends nothing: the sweep's decision part alone."""

    async def drain(self) -> int:
        return 0

    def sending(self) -> tuple[str, ...]:
        return ()  # what a process sends to; the store has no targets recorded here


def _row(number: int, due_at: datetime, warned: bool) -> dict[str, Any]:
    started = due_at - timedelta(hours=2)
    return {
        "installation_id": 2311213,
        "repo": REPOS[number % len(REPOS)],
        "issue_number": number,
        "kind": "response",
        "state": "running",
        "priority": "urgent" if number % 3 else "normal",
        "request_type": "problem",
        "started_at": started,
        "due_at": due_at,
        "warn_at": started + timedelta(hours=1),
        "warned_at": started + timedelta(hours=1) if warned else None,
        "issue_title": "Shipping labels cannot be printed",
        "issue_url": f"https://github.com/acme/support/issues/{number}",
        "issue_author": "wile-e",
    }


class Store:
    """The clocks table, filled and reset in bulk."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.engine = services.db.engine
        self.running = 0
        self.due = 0
        self.random = random.Random(6)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        from app.store.tables import clocks

        with self.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(clocks), rows[start : start + 10_000])
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE clocks"))

    def grow_running(self, n: int) -> None:
        """Add running clocks not yet due (nor warned) until there are `n`."""
        rows = []
        for number in range(self.running + 1, n + 1):
            ahead = timedelta(minutes=self.random.randint(120, 30 * 24 * 60))
            rows.append(_row(number, NOW + ahead, warned=False))
        self._insert(rows)
        self.running = n

    def set_due(self, d: int) -> None:
        """Exactly `d` due clocks (early warning already sent), no outbox."""
        from app.store.tables import clocks, outbox

        with self.engine.begin() as conn:
            conn.execute(delete(clocks).where(clocks.c.issue_number >= DUE_BASE))
            conn.execute(delete(outbox))
        rows = [
            _row(DUE_BASE + i, NOW - timedelta(minutes=self.random.randint(1, 600)), warned=True)
            for i in range(d)
        ]
        if rows:
            self._insert(rows)
        self.due = d

    def reset(self) -> None:
        """Due clocks back to running, outbox empty: the next sweep finds the same work."""
        from app.store.tables import clocks, outbox

        if not self.due:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(clocks)
                .where(clocks.c.issue_number >= DUE_BASE)
                .values(state="running", breached_at=None, ended_at=None)
            )
            conn.execute(delete(outbox))


async def _timed(step: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await step()
    return (time.perf_counter() - started) * 1000, value


@dataclass
class Cell:
    decision: list[float]
    sending: list[float]
    whole: list[float]
    breached: int = 0


async def _measure_cell(store: Store, reps: int) -> Cell:
    from app.jobs.sweep import Sweeper

    services = store.services
    deciding = Sweeper(db=services.db, policies=services.policies, dispatcher=NoSending())  # type: ignore[arg-type]
    cell = Cell([], [], [])
    for _ in range(reps):
        await asyncio.to_thread(store.reset)
        ms, result = await _timed(lambda: deciding.sweep(NOW))
        cell.decision.append(ms)
        cell.breached = result.breached
        ms, _ = await _timed(lambda: services.dispatcher.drain())
        cell.sending.append(ms)
        await asyncio.to_thread(store.reset)
        ms, _ = await _timed(lambda: services.sweeper.sweep(NOW))
        cell.whole.append(ms)
    return cell


def _build(db_url: str) -> Any:
    from app.config import Settings
    from app.services import build

    settings = Settings(
        github_app_id=None,
        github_private_key=None,
        github_private_key_path=None,
        slack_bot_token=None,
        sla_policy_file=None,
        database_url=db_url,
        sla_sweep_interval=0,
        sla_github_write_rate=0,
    )
    services = build(settings, time=lambda: NOW, require_secret=False)
    # As measured before effects without credentials were left owed: the alerts are sent to
    # the LogNotifier and the GitHub writes are tried (and rescheduled), so `whole` still
    # counts the sending.
    services.dispatcher.targets = None
    return services


async def _measure_backend(plan: Plan, db_url: str) -> dict[tuple[int, int], Cell]:
    services = await asyncio.to_thread(_build, db_url)
    store = Store(services)
    cells = {}
    try:
        for n in plan.running:
            await asyncio.to_thread(store.grow_running, n)
            for d in plan.due:
                await asyncio.to_thread(store.set_due, d)
                reps = plan.reps_idle if d == 0 else plan.reps_due
                await services.sweeper.sweep(NOW)  # warm: compiled statements, policy cache
                cells[(n, d)] = await _measure_cell(store, reps)
            await asyncio.to_thread(store.set_due, 0)
    finally:
        await services.aclose()
    return cells


def run(quick: bool = False) -> list[Result]:
    plan = QUICK if quick else FULL
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="sla-bench-") as tmp:
        for backend in servers.backends():
            with servers.database(backend, Path(tmp)) as db_url:
                with logs.to_file(Path(tmp) / f"sweep-{backend}.log"):
                    cells = asyncio.run(_measure_backend(plan, db_url))
                    results = _results(backend, plan, cells)
                    if not quick:
                        _profile_misses(results, plan, db_url)
                out += results
    return out


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def _results(backend: str, plan: Plan, cells: dict[tuple[int, int], Cell]) -> list[Result]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    out = []
    top = max(plan.running)
    for (n, d), cell in cells.items():
        where = f"{label}, {_k(n)} running, {d} due"
        note = f"decision {fmt(statistics.median(cell.decision))} ms"
        if d:
            note += f", sending {fmt(statistics.median(cell.sending))} ms; {cell.breached} breached"
            if cell.breached < d:
                note += f" per sweep (of {d}: the rest wait for the next sweep)"
        whole = Result(NAME, f"{where}: whole sweep", "ms", cell.whole, note=note)
        if d == 0 and n == top:
            whole.goal = "< 20 ms"
            whole.check(20.0)
        out.append(whole)
        out.append(Result(NAME, f"{where}: decision part", "ms", cell.decision))
    low = min(plan.running)
    if low != top:
        for d in plan.due:
            small, big = cells[(low, d)].whole, cells[(top, d)].whole
            ratio = statistics.median(big) / statistics.median(small)
            out.append(
                Result(
                    NAME,
                    f"{label}, {d} due: whole sweep at {_k(top)} ÷ at {_k(low)} running",
                    "×",
                    [ratio],
                    goal="≈ 1 (≤ 2): grows with due clocks, not running ones",
                    note="ratio of the medians",
                ).check(2.0)
            )
    return out


def _profile_misses(results: list[Result], plan: Plan, db_url: str) -> None:
    """cProfile one more sweep (at the most running clocks) where a goal was missed."""
    for result in results:
        if result.met is not False:
            continue
        found = re.search(r", (\d+) due", result.name)
        due = int(found[1]) if found else 0
        result.detail = (
            f"One more whole sweep at {_k(max(plan.running))} running and {due} due clocks, "
            f"under cProfile:\n\n"
            + profile.cprofile(partial(asyncio.run, _again(plan, db_url, due)))
        )


async def _again(plan: Plan, db_url: str, due: int) -> None:
    services = await asyncio.to_thread(_build, db_url)
    store = Store(services)
    store.running = max(plan.running)
    try:
        await asyncio.to_thread(store.set_due, due)
        await services.sweeper.sweep(NOW)
    finally:
        await services.aclose()
