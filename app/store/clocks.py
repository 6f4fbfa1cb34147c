"""Clocks: one row per issue, kind and priority; the sweep reads the due ones by index."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, exists, insert, literal, select, update

from app.sla.clock import Clock, ClockKind
from app.store import queue
from app.store.tables import calls, clocks

RESPONSE, POSTMORTEM = str(ClockKind.RESPONSE), str(ClockKind.POSTMORTEM)
LIVE_STATES = ("running", "paused", "breached")


def _clock(row: Row[Any]) -> Clock:
    return Clock(**{name: getattr(row, name) for name in Clock.__dataclass_fields__})


def live(conn: Connection, repo: str, issue_number: int, kind: str = RESPONSE) -> Clock | None:
    """The running or breached clock of an issue, if any."""
    row = conn.execute(
        select(clocks).where(
            clocks.c.repo == repo,
            clocks.c.issue_number == issue_number,
            clocks.c.kind == kind,
            clocks.c.state.in_(LIVE_STATES),
        )
    ).first()
    return None if row is None else _clock(row)


def live_numbers(conn: Connection, repo: str, kind: str | None = RESPONSE) -> set[int]:
    """The issues of a repository with a live clock (of `kind`; None: of any kind):
    reconcile checks those GitHub no longer lists as open."""
    query = select(clocks.c.issue_number).where(
        clocks.c.repo == repo,
        clocks.c.state.in_(LIVE_STATES),
        clocks.c.issue_number > 0,  # a call's, whose issue is being opened: not GitHub's yet
    )
    if kind is not None:
        query = query.where(clocks.c.kind == kind)
    rows = conn.execute(query.distinct())
    return {int(row.issue_number) for row in rows}


def to_escalate(conn: Connection, now: datetime, limit: int = 500) -> list[Clock]:
    """Live pages whose escalation time has passed and that nobody has dealt with yet: a
    range scan of ix_clocks_escalate (the mark is cleared once dealt with)."""
    rows = conn.execute(
        select(clocks)
        .where(clocks.c.escalate_at <= now)  # cleared when a clock ends: live ones only
        .order_by(clocks.c.escalate_at)
        .limit(limit)
    )
    return [_clock(row) for row in rows]


def escalated(conn: Connection, clock_id: int) -> None:
    """The page was escalated, or needs no escalation any more: clear its mark."""
    conn.execute(update(clocks).where(clocks.c.id == clock_id).values(escalate_at=None))


def open_clocks(conn: Connection, repo: str | None = None) -> list[Clock]:
    """Every running or breached clock (of a repository), soonest due first."""
    query = select(clocks).where(clocks.c.state.in_(LIVE_STATES))
    if repo is not None:
        query = query.where(clocks.c.repo == repo)
    return [_clock(row) for row in conn.execute(query.order_by(clocks.c.due_at))]


# Built once, run with parameters: building a statement costs more than running it on the
# paths taken for every delivery (bench/profiles).
_HISTORY = (
    select(clocks)
    .where(
        clocks.c.repo == bindparam("repo"),
        clocks.c.issue_number == bindparam("number"),
        clocks.c.kind == bindparam("kind"),
    )
    .order_by(clocks.c.id)
)
_START = insert(clocks)


def history(conn: Connection, repo: str, issue_number: int, kind: str = RESPONSE) -> list[Clock]:
    rows = conn.execute(_HISTORY, {"repo": repo, "number": issue_number, "kind": kind})
    return [_clock(row) for row in rows]


def of_issue(conn: Connection, repo: str, issue_number: int) -> list[Clock]:
    """Every clock of an issue, of every kind, in the order they started."""
    rows = conn.execute(
        select(clocks)
        .where(clocks.c.repo == repo, clocks.c.issue_number == issue_number)
        .order_by(clocks.c.started_at, clocks.c.id)
    )
    return [_clock(row) for row in rows]


def start(conn: Connection, **values: Any) -> int:
    """Insert a running clock; the unique live index refuses a second live clock."""
    result = conn.execute(_START, {**values, "state": "running"})
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def begin(conn: Connection, **values: Any) -> Clock:
    """`start`, returning the running clock as stored, without reading it back."""
    return _as_stored(start(conn, **values), values)


def begin_if_new(conn: Connection, **values: Any) -> Clock | None:
    """`begin`, only if the issue never had a clock of this kind (None then): one statement."""
    row = conn.execute(_if_new(tuple(values), returning=True), values).first()
    return None if row is None else _as_stored(int(row[0]), values)


def open_if_new(conn: Connection, **values: Any) -> None:
    """`begin_if_new` for a caller that needs nothing back (no follower, no alert): inside
    `gathered`, stored with the others at its end."""
    if not queue.later(conn, _GATHERED, values):
        conn.execute(_if_new(tuple(values), returning=False), values)


_GATHERED = "sla_bot.clocks.gathered"


def gathered(conn: Connection) -> contextlib.AbstractContextManager[None]:
    """Clocks opened with `open_if_new` inside are inserted when it ends, in one executemany
    (a wave of new issues: one round trip on PostgreSQL, not one an issue); each still
    only where the issue never had a clock of its kind."""

    def store(rows: list[dict[str, Any]]) -> None:
        for group in queue.alike(rows):
            conn.execute(_if_new(tuple(group[0]), returning=False), group)

    return queue.gathered(conn, _GATHERED, store)


def _as_stored(clock_id: int, values: dict[str, Any]) -> Clock:
    fields: dict[str, Any] = {name: None for name in Clock.__dataclass_fields__ if name != "id"}
    fields.update(state="running", paused_seconds=0, issue_title="", issue_url="", issue_author="")
    for name, value in values.items():  # as the store hands them back: aware UTC
        fields[name] = value.astimezone(UTC) if isinstance(value, datetime) else value
    return Clock(id=clock_id, **fields)


@functools.cache
def _if_new(names: tuple[str, ...], *, returning: bool) -> Any:
    """INSERT ... SELECT ... WHERE NOT EXISTS (a clock of this kind for the issue): one round
    trip for what took a read and an insert, built once per set of columns (without its id
    back, it runs as an executemany)."""
    columns = [*names, "state"]
    values = [bindparam(n, type_=clocks.c[n].type) for n in names]
    earlier = select(clocks.c.id).where(
        clocks.c.repo == bindparam("repo"),
        clocks.c.issue_number == bindparam("issue_number"),
        clocks.c.kind == bindparam("kind"),
    )
    rows = select(*values, literal("running", clocks.c.state.type)).where(~exists(earlier))
    statement = insert(clocks).from_select(columns, rows)
    return statement.returning(clocks.c.id) if returning else statement


def transition(
    conn: Connection, clock_id: int, from_states: Iterable[str], to_state: str, **values: Any
) -> bool:
    """Move a clock on only if it is still in one of `from_states`: one winner per race."""
    result = conn.execute(
        update(clocks)
        .where(clocks.c.id == clock_id, clocks.c.state.in_(list(from_states)))
        .values(state=to_state, **values)
    )
    return result.rowcount == 1


def mark(
    conn: Connection,
    clock_id: int,
    values: dict[str, Any],
    *,
    unless: str | None = None,
    if_set: str | None = None,
    state: str | None = None,
) -> bool:
    """Set `values` on a clock only while `unless` is unset, `if_set` set and it is in
    `state` (each when given): one winner when two replicas mark it at once."""
    query = update(clocks).where(clocks.c.id == clock_id)
    if unless is not None:
        query = query.where(clocks.c[unless].is_(None))
    if if_set is not None:
        query = query.where(clocks.c[if_set].is_not(None))
    if state is not None:
        query = query.where(clocks.c.state == state)
    return conn.execute(query.values(**values)).rowcount == 1


def mark_warned(conn: Connection, clock_id: int, now: datetime) -> bool:
    result = conn.execute(
        update(clocks)
        .where(clocks.c.id == clock_id, clocks.c.state == "running", clocks.c.warned_at.is_(None))
        .values(warned_at=now)
    )
    return result.rowcount == 1


def due(conn: Connection, now: datetime, limit: int = 500) -> list[Clock]:
    """Running clocks whose due time has passed: a range scan of ix_clocks_due."""
    rows = conn.execute(
        select(clocks)
        .where(clocks.c.state == "running", clocks.c.due_at <= now)
        .order_by(clocks.c.due_at)
        .limit(limit)
    )
    return [_clock(row) for row in rows]


def warn_due(conn: Connection, now: datetime, limit: int = 500) -> list[Clock]:
    """Running clocks past their early-warning time and not yet warned (ix_clocks_warn)."""
    rows = conn.execute(
        select(clocks)
        .where(
            clocks.c.state == "running",
            clocks.c.warn_at <= now,
            clocks.c.warned_at.is_(None),
        )
        .order_by(clocks.c.warn_at)
        .limit(limit)
    )
    return [_clock(row) for row in rows]


def started_since(conn: Connection, since: datetime, repo: str | None = None) -> list[Clock]:
    """Clocks of every kind started at or after `since` (for reports), oldest first."""
    query = select(clocks).where(clocks.c.started_at >= since)
    if repo is not None:
        query = query.where(clocks.c.repo == repo)
    return [_clock(row) for row in conn.execute(query.order_by(clocks.c.started_at))]


def paged(conn: Connection, repo: str, number: int, at: datetime) -> int | None:
    """The clock of the issue's episode paged within the second `at` (an incident key's); a
    negative number is a call's, paged before its issue was opened (app.store.calls)."""
    if number < 0:
        clock_id = conn.execute(select(calls.c.clock_id).where(calls.c.id == -number)).scalar()
        return None if clock_id is None else int(clock_id)
    found = conn.execute(
        select(clocks.c.id)
        .where(
            clocks.c.repo == repo,
            clocks.c.issue_number == number,
            clocks.c.paged_at >= at,
            clocks.c.paged_at < at + timedelta(seconds=1),
        )
        .order_by(clocks.c.id)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def get(conn: Connection, clock_id: int) -> Clock | None:
    row = conn.execute(select(clocks).where(clocks.c.id == clock_id)).first()
    return None if row is None else _clock(row)


def stop_repo(conn: Connection, repo: str, now: datetime) -> int:
    """Drop every live clock of a repository the App no longer covers."""
    result = conn.execute(
        update(clocks)
        .where(clocks.c.repo == repo, clocks.c.state.in_(LIVE_STATES))
        .values(state="dropped", ended_at=now, escalate_at=None)
    )
    return int(result.rowcount)
