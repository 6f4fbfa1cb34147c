"""Retention: a week of steady traffic, the store's size per simulated day.

sla-bot runs in this process (the real services, store, worker and dispatcher; GitHub is
the FakeGitHub stand-in through aiohttp, as in `serve`) on one injected time that the loop
moves an hour at a time, so a week takes under a minute of wall time. Every hour `--per-hour`
customers open a request (an issue-form body, priority normal), a responder answers each an
hour later and closes it an hour after that: three deliveries per request, each stored with
its full body, and its two GitHub effects (the labels and the intake comment) sent. Every
hour the sweep runs, and the maintenance loop's retention with SLA_RETENTION_DAYS (2 here,
so that a week shows it: the default is 30). At the end of each simulated day the rows of
deliveries, outbox and clocks are counted, and the SQLite file's pages in use (page count
less free pages, times the page size) and its size. Clocks are kept on purpose (the report
reads them): they grow by one row per request, a small fraction of the bytes. The rows and
bytes of each day are the finding at the end of RESULTS.md.

    .venv/bin/python -m bench.retention [--days 7] [--per-hour 10] [--retention-days 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, func, select

from app.config import Settings
from app.services import Services, build
from app.store import deliveries
from app.store.tables import clocks, outbox
from app.store.tables import deliveries as deliveries_table
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO
from bench.results import Result
from sla_sandbox.standins import FakeGitHub

NAME = "retention"
TITLE = "9. Retention: a week of steady traffic, the store's size per day"

T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday
NORMAL_BODY = FORM_BODY.replace("Urgent — blocking work", "Normal — everything else").replace(
    "or affecting end users (response within 1 business hour)",
    "(response by end of the next business day)",
)


class SimTime:
    """The one time function the app and the stand-in read; the loop moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _rows(conn: Connection) -> dict[str, int]:
    return {
        table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in (deliveries_table, outbox, clocks)
    }


def _bytes(path: Path) -> tuple[int, int]:
    """(bytes in pages in use, the file's size) of the SQLite store, WAL checkpointed."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size, count, free = (
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_size", "page_count", "freelist_count")
        )
    return (count - free) * size, path.stat().st_size


class Traffic:
    """Customers and responders on FakeGitHub; each change delivered to sla-bot's store."""

    def __init__(self, github: FakeGitHub, services: Services, time: SimTime) -> None:
        self.github, self.services, self.time = github, services, time
        self.sent = 0

    def deliver(self, event: str, action: str, number: int, **extra: Any) -> None:
        self.sent += 1
        body = json.dumps(self.github.payload(event, action, REPO, number, **extra))
        self.services.db.tx(
            deliveries.record,
            delivery_id=f"d{self.sent}",
            event=event,
            action=action,
            installation_id=INSTALLATION,
            repo=REPO,
            issue_number=number,
            body=body,
            now=self.time(),
        )

    def hour(self, per_hour: int, opened: dict[datetime, list[int]]) -> None:
        now = self.time()
        for number in opened.pop(now - timedelta(hours=2), []):
            self.github.close_issue(REPO, number, "dana", at=now)
            self.deliver("issues", "closed", number, sender="dana")
        for number in opened.get(now - timedelta(hours=1), []):
            made = self.github.add_comment(
                REPO, number, "Looking into it now.", "dana", association="MEMBER", at=now
            )
            self.deliver("issue_comment", "created", number, comment=made["id"], sender="dana")
        fresh = opened.setdefault(now, [])
        for i in range(per_hour):
            issue = self.github.open_issue(
                REPO, title=f"Request {self.sent}-{i}", user="kim", body=NORMAL_BODY, created_at=now
            )
            fresh.append(int(issue["number"]))
            self.deliver("issues", "opened", int(issue["number"]))


async def simulate(days: int, per_hour: int, retention_days: int, workdir: Path) -> dict[str, Any]:
    time = SimTime(T0)
    github = FakeGitHub(APP_ID, time=time, rate_limit=10_000_000)
    github.add_repo(REPO, INSTALLATION)
    store = workdir / "retention.db"
    with github.serve():
        settings = Settings(
            github_app_id=APP_ID,
            github_private_key=github.private_key_pem,
            github_private_key_path=None,
            github_api_url=github.api_url,
            slack_bot_token=None,
            sla_policy_file=None,
            database_url=f"sqlite:///{store}",
            sla_sweep_interval=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
            sla_github_write_rate=0,
            sla_retention_days=retention_days,
        )
        services = await asyncio.to_thread(build, settings, time=time, require_secret=False)
        maintenance = services.maintenance()
        assert maintenance is not None
        traffic, opened = Traffic(github, services, time), dict[datetime, list[int]]()
        per_day: list[dict[str, Any]] = []
        began, purged = perf_counter(), 0
        try:
            for hour in range(1, days * 24 + 1):
                traffic.hour(per_hour, opened)
                await services.worker.drain()
                await services.sweeper.sweep(time())
                purged += await maintenance.purge(time())  # the hourly upkeep
                if hour % 24 == 0:
                    used, size = _bytes(store)
                    rows = await services.db.run(_rows)
                    per_day.append(
                        {"day": hour // 24, **rows, "used_bytes": used, "file_bytes": size}
                    )
                time.now += timedelta(hours=1)
            pending = await services.db.run(
                lambda conn: conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status != "sent")
                ).scalar_one()
            )
        finally:
            await services.aclose()
    return {
        "days": days,
        "per_hour": per_hour,
        "retention_days": retention_days,
        "deliveries_sent": traffic.sent,
        "purged": purged,
        "unsent_effects": int(pending),
        "comments": len(github.calls_to("POST", r"/issues/\d+/comments$")),
        "wall_seconds": round(perf_counter() - began, 1),
        "per_day": per_day,
    }


def table(found: dict[str, Any]) -> str:
    lines = [
        "| day | deliveries | outbox | clocks | bytes in use | file size |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in found["per_day"]:
        lines.append(
            f"| {row['day']} | {row['deliveries']:,} | {row['outbox']:,} | {row['clocks']:,} "
            f"| {row['used_bytes'] / 2**20:.2f} MiB | {row['file_bytes'] / 2**20:.2f} MiB |"
        )
    return "\n".join(lines)


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: a week at 10 requests an hour, SLA_RETENTION_DAYS=2."""
    days, per_hour, keep = (2, 2, 1) if quick else (7, 10, 2)
    with tempfile.TemporaryDirectory(prefix="sla-retention-") as tmp:
        found = asyncio.run(simulate(days, per_hour, keep, Path(tmp)))
    rows = found["per_day"]
    settled = rows[keep]  # the first day whose start is a full retention period in
    last = rows[-1]
    kept = [
        (r["deliveries"] + r["outbox"]) / (settled["deliveries"] + settled["outbox"])
        for r in (settled, last)
    ]
    note = (
        f"{found['deliveries_sent']:,} deliveries over {days} days at {per_hour}/h, "
        f"{found['purged']:,} rows deleted, {found['comments']:,} intake comments; "
        f"{found['wall_seconds']} s of wall time"
    )
    return [
        Result(
            NAME,
            f"deliveries and outbox rows, last day ÷ day {keep + 1}",
            "×",
            [kept[1]],
            goal="≤ 1.05 (levelled off)",
            note=note,
            detail=table(found),
        ).check(1.05),
        Result(
            NAME,
            f"bytes in use, last day ÷ day {keep + 1}",
            "×",
            [last["used_bytes"] / settled["used_bytes"]],
            goal="≤ 1.25",
            note="clocks (kept) grow by one small row per request",
        ).check(1.25),
        Result(NAME, "effects left unsent", "", [float(found["unsent_effects"])], goal="0").check(
            0.0
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-hour", type=int, default=10)
    parser.add_argument("--retention-days", type=int, default=2, help="SLA_RETENTION_DAYS")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-retention-") as tmp:
        found = asyncio.run(simulate(args.days, args.per_hour, args.retention_days, Path(tmp)))
    print(table(found))
    print(f"RESULT {json.dumps({k: v for k, v in found.items() if k != 'per_day'})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
