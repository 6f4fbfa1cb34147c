"""Paced backfill: 2,000 old open issues against a GitHub enforcing its secondary limits.

The FakeGitHub stand-in (sla_sandbox/standins) is extended here to refuse content creation beyond
GitHub's documented secondary limits, as GitHub does: every POST, PATCH, PUT or DELETE
under /repos/ counts, at most 80 in any 60 s and 500 in any hour; beyond that it answers
403 "You have exceeded a secondary rate limit" with `retry-after: 60`. The repository has
2,000 open issues from before the install, none labeled, all with an issue-form body.

sla-bot runs in this process (the real services, store and dispatcher; GitHub through
aiohttp, as in `serve`) with the default pace (SLA_GITHUB_WRITE_RATE=80, 500 an hour).
Pacing 2,000 writes takes hours of wall time, so the app and the stand-in share one
injected clock that the loop moves on to the next moment work is due (the moved-clock
run the issue allows): nothing sleeps, every wait the app schedules is honoured in full.
Figures: 403s seen, label writes and comments made (comments must be 0: a backfill
labels, it does not greet old issues), and the simulated time the backfill took.

    .venv/bin/python -m bench.backfill [--issues 2000] [--rate 80]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, func, select

from app.config import Settings
from app.services import build
from app.store import deliveries
from app.store.tables import outbox
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO
from bench.results import Result
from sla_sandbox.standins import FakeGitHub
from sla_sandbox.standins.github_http import IncomingRequest, Reply, error

NAME = "backfill"
TITLE = "7. Paced backfill: install on a repository with 2,000 open issues"

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday morning
MINUTE_LIMIT, HOUR_LIMIT = 80, 500
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


class SimTime:
    """The one time function the app and the stand-in read; the loop moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class LimitedGitHub(FakeGitHub):
    """FakeGitHub refusing content creation beyond GitHub's secondary limits."""

    def __init__(self, time: SimTime) -> None:
        # Primary limit raised: the subject here is the secondary limit (the reconcile reads
        # events and comments of every issue once, counted separately below).
        super().__init__(APP_ID, time=time, rate_limit=100_000)
        self.accepted: deque[datetime] = deque()
        self.refused = 0
        self.reads = 0

    def _answer(self, req: IncomingRequest) -> tuple[Reply, bool]:
        if req.method == "GET":
            self.reads += 1
        elif req.path.startswith("/repos/"):
            now = self.now()
            while self.accepted and self.accepted[0] <= now - timedelta(hours=1):
                self.accepted.popleft()
            minute = sum(1 for at in self.accepted if at > now - timedelta(minutes=1))
            if minute >= MINUTE_LIMIT or len(self.accepted) >= HOUR_LIMIT:
                self.refused += 1
                refusal = error(403, SECONDARY)
                return Reply(403, refusal.body, {"retry-after": "60"}), False
            self.accepted.append(now)
        return super()._answer(req)


def _next_due(conn: Connection) -> datetime | None:
    """When the next pending effect, delivery or job (the install's reconcile) is due."""
    from app.store.tables import deliveries as table
    from app.store.tables import jobs

    found = [
        conn.execute(select(func.min(t.c.next_attempt_at)).where(t.c.status == "pending")).scalar()
        for t in (outbox, table, jobs)
    ]
    due = [at.replace(tzinfo=UTC) if at.tzinfo is None else at for at in found if at is not None]
    return min(due, default=None)


async def backfill(issues: int, rate: int, workdir: Path) -> dict[str, Any]:
    time = SimTime(T0)
    github = LimitedGitHub(time)
    github.add_repo(REPO, INSTALLATION)
    normal = FORM_BODY.replace("Urgent — blocking work", "Normal — everything else").replace(
        "or affecting end users (response within 1 business hour)",
        "(response by end of the next business day)",
    )
    for i in range(issues):
        github.open_issue(
            REPO,
            title=f"Old request {i}",
            body=FORM_BODY if i % 10 == 0 else normal,
            user="dana",
            created_at=T0 - timedelta(days=60, minutes=i),
        )
    with github.serve():
        settings = Settings(
            github_app_id=APP_ID,
            github_private_key=github.private_key_pem,
            github_private_key_path=None,
            github_api_url=github.api_url,
            slack_bot_token=None,
            sla_policy_file=None,
            database_url=f"sqlite:///{workdir / 'backfill.db'}",
            sla_sweep_interval=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
            sla_github_write_rate=rate,
        )
        services = await asyncio.to_thread(build, settings, time=time, require_secret=False)
        body = json.dumps(github.payload("installation", "created", REPO))
        services.db.tx(
            deliveries.record,
            delivery_id="install-1",
            event="installation",
            action="created",
            installation_id=INSTALLATION,
            repo=None,
            issue_number=None,
            body=body,
            now=time(),
        )
        began, rounds = perf_counter(), 0
        try:
            while True:
                rounds += 1
                await services.worker.drain()
                due = await services.db.run(_next_due)
                if due is None:
                    break
                time.now = max(time.now, due)
        finally:
            held = services.metrics.registry.get_sample_value(
                "sla_bot_effects_total",
                {"target": "github", "kind": "add-labels", "outcome": "paced"},
            )
            await services.aclose()
    labels = github.calls_to("POST", r"/issues/\d+/labels$")
    comments = github.calls_to("POST", r"/issues/\d+/comments$")
    created = github.calls_to("POST", r"^/repos/[^/]+/[^/]+/labels$")
    labeled = {c.path for c in labels if c.status == 200}
    return {
        "issues": issues,
        "write_rate": rate,
        "refused_403": github.refused,
        "issues_labeled": len(labeled),
        "label_writes": len(labels),
        "labels_created": len([c for c in created if c.status == 201]),
        "comments": len(comments),
        "reads": github.reads,
        "simulated_hours": round((time.now - T0).total_seconds() / 3600, 2),
        "wall_seconds": round(perf_counter() - began, 1),
        "rounds": rounds,
        "held_back": int(held or 0),
    }


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: the default pace (SLA_GITHUB_WRITE_RATE=80)."""
    issues = 30 if quick else 2000
    with tempfile.TemporaryDirectory(prefix="sla-backfill-") as tmp:
        found = asyncio.run(backfill(issues, 80, Path(tmp)))
    note = (
        f"{found['label_writes']} label writes and {found['labels_created']} labels created "
        f"at {found['write_rate']}/min and 500/h, {found['reads']} reads; "
        f"{found['simulated_hours']} h on the moved clock, {found['wall_seconds']} s of wall time"
    )
    return [
        Result(
            NAME,
            "403s from the stand-in (secondary rate limit)",
            "",
            [float(found["refused_403"])],
            goal="0",
            note=note,
        ).check(0.0),
        Result(
            NAME, "intake comments on old issues", "", [float(found["comments"])], goal="0"
        ).check(0.0),
        Result(
            NAME,
            f"old issues labeled, of {issues}",
            "",
            [float(found["issues_labeled"])],
            goal=f"{issues}",
            better="higher",
        ).check(float(issues)),
        Result(
            NAME,
            "times a label write was held back, per label write",
            "",
            [found["held_back"] / max(1, found["label_writes"])],
            goal="≤ 1",
            note="each write held back once, to a slot of its own (not again and again)",
        ).check(1.0),
        Result(
            NAME,
            "time the backfill took (moved clock)",
            "h",
            [float(found["simulated_hours"])],
            note="GitHub's 500 an hour sets the pace",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--issues", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=80, help="SLA_GITHUB_WRITE_RATE")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-backfill-") as tmp:
        found = asyncio.run(backfill(args.issues, args.rate, Path(tmp)))
    print(f"RESULT {json.dumps(found)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
