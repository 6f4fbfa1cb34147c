"""Issues as the latest delivery showed them, and the clocks a status meeting looks at."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from app.sla.clock import Clock
from app.store import queue
from app.store.clocks import LIVE_STATES, _clock
from app.store.tables import clocks, issues


@dataclass(frozen=True)
class IssueRecord:
    """An issue's labels, assignees and state as of `updated_at` (GitHub's)."""

    repo: str
    number: int
    title: str
    url: str
    state: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    closed_at: datetime | None
    updated_at: datetime


def record(conn: Connection, issue: IssueRecord) -> None:
    """Keep `issue` unless the store has a later look at it: deliveries processed out of
    order never put an older label set back."""
    values = {
        "repo": issue.repo,
        "number": issue.number,
        "title": issue.title,
        "url": issue.url,
        "state": issue.state,
        "labels": json.dumps(list(issue.labels)),
        "assignees": json.dumps(list(issue.assignees)),
        "closed_at": issue.closed_at,
        "updated_at": issue.updated_at,
    }
    if not queue.later(conn, _GATHERED, values):
        conn.execute(_upsert(conn.dialect.name), values)


_GATHERED = "sla_bot.issues.gathered"


def gathered(conn: Connection) -> contextlib.AbstractContextManager[None]:
    """Issues recorded inside are stored together when it ends: a wave of deliveries is
    one statement, not one round trip a delivery (each issue once: its latest look)."""

    def store(rows: list[dict[str, Any]]) -> None:
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        for row in rows:
            key = (row["repo"], row["number"])
            if key not in latest or row["updated_at"] >= latest[key]["updated_at"]:
                latest[key] = row
        if latest:
            conn.execute(_upsert(conn.dialect.name), list(latest.values()))

    return queue.gathered(conn, _GATHERED, store)


@functools.cache
def _upsert(dialect_name: str) -> Any:
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    statement = dialect.insert(issues)
    later = statement.excluded.updated_at >= issues.c.updated_at
    fields = ("title", "url", "state", "labels", "assignees", "closed_at", "updated_at")
    return statement.on_conflict_do_update(
        index_elements=["repo", "number"],
        set_={name: statement.excluded[name] for name in fields},
        where=later,
    )


def records(
    conn: Connection, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], IssueRecord]:
    """The stored look of these issues (those never seen in a delivery are left out)."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, int], IssueRecord] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(select(issues).where(tuple_(issues.c.repo, issues.c.number).in_(chunk)))
        for row in rows:
            found[(row.repo, row.number)] = IssueRecord(
                repo=row.repo,
                number=row.number,
                title=row.title,
                url=row.url,
                state=row.state,
                labels=tuple(json.loads(row.labels)),
                assignees=tuple(json.loads(row.assignees)),
                closed_at=row.closed_at,
                updated_at=row.updated_at,
            )
    return found


def meeting_clocks(conn: Connection, since: datetime) -> list[Clock]:
    """Every clock of the issues a status meeting covers: those with a live clock, and those
    with a clock that started, ended or breached since `since` (oldest first)."""
    touched = (
        select(clocks.c.repo, clocks.c.issue_number)
        .where(
            or_(
                clocks.c.state.in_(LIVE_STATES),
                clocks.c.started_at >= since,
                clocks.c.ended_at >= since,
                clocks.c.due_at >= since,
            )
        )
        .distinct()
    )
    query = select(clocks).where(tuple_(clocks.c.repo, clocks.c.issue_number).in_(touched))
    return [_clock(row) for row in conn.execute(query.order_by(clocks.c.started_at, clocks.c.id))]


def closed_since(conn: Connection, since: datetime) -> list[IssueRecord]:
    """Issues whose latest look is closed, closed at or after `since`."""
    rows = conn.execute(
        select(issues.c.repo, issues.c.number).where(
            issues.c.state == "closed", issues.c.closed_at >= since
        )
    )
    return list(records(conn, [(r.repo, r.number) for r in rows]).values())
