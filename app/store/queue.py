"""What deliveries, the outbox and jobs share: rows that wait, are claimed under a lease, and
retry."""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    Table,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

PENDING = "pending"
# Claim order: production-down work (lane 0) before routine work (lane 1), so a page never
# waits behind a backlog of normal requests; within a lane, round robin across
# installations (`ready_ids`' `tenant`), so one installation's flood holds up no other.
URGENT_LANE, ROUTINE_LANE = 0, 1
# The next attempt time of work that is due at once, whatever any worker's clock says: a new
# effect decided by `sweep --now <future>`, or a delivery queued again by an operator.
AT_ONCE = datetime(1970, 1, 1, tzinfo=UTC)


def insert_new(
    conn: Connection, table: Table, rows: list[dict[str, Any]], key: str, *, any_key: bool = False
) -> set[Any]:
    """Insert the rows whose `key` is not stored yet; returns the keys inserted.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING key` (no savepoint, no exception for a
    duplicate) for all rows with the same columns: a redelivery or a repeated decision is a
    no-op, and so is a key repeated among the rows.
    `any_key`: a row that clashes with any unique index is skipped, not only on `key`.
    """
    statement, inserted = _insert_new(table, key, conn.dialect.name, any_key), set[Any]()
    for group in alike(rows):
        inserted.update(row[0] for row in conn.execute(statement, group))
    return inserted


def insert_missing(conn: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """`insert_new` for a caller that needs no keys back: without RETURNING, half the CPU
    and round-trip time on PostgreSQL (a wave's intake effects: 50 rows, 2.3 -> 1.2 ms)."""
    statement = _insert_new(table, key, conn.dialect.name, False, returning=False)
    for group in alike(rows):
        conn.execute(statement, group)


def alike(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their columns: an executemany takes its columns from the first row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


@contextlib.contextmanager
def gathered(
    conn: Connection, name: str, store: Callable[[list[dict[str, Any]]], object]
) -> Iterator[None]:
    """Rows added with `later(conn, name, row)` inside are handed to `store` together when
    it ends (a wave of deliveries: one statement, not one a delivery); not on an error."""
    rows: list[dict[str, Any]] = []
    conn.info[name] = rows
    try:
        yield
    finally:
        conn.info.pop(name, None)
    store(rows)


def later(conn: Connection, name: str, row: dict[str, Any]) -> bool:
    """Keep `row` for the `gathered` block `name` open on `conn`; False when none is open
    (the caller stores it now)."""
    rows: list[dict[str, Any]] | None = conn.info.get(name)
    if rows is None:
        return False
    rows.append(row)
    return True


@functools.cache
def _insert_new(
    table: Table, key: str, dialect_name: str, any_key: bool, *, returning: bool = True
) -> Any:
    # Built once: constructing a statement costs more than running it (benchmarks).
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    target = {} if any_key else {"index_elements": [key]}
    statement = dialect.insert(table).on_conflict_do_nothing(**target)
    return statement.returning(table.c[key]) if returning else statement


def _free(table: Table, now: datetime) -> ColumnElement[bool]:
    return or_(table.c.lease_until.is_(None), table.c.lease_until < now)


def _ready(table: Table, now: datetime, where: ColumnElement[bool] | None) -> list[Any]:
    ready = [table.c.status == PENDING, table.c.next_attempt_at <= now, _free(table, now)]
    return ready if where is None else [*ready, where]


def ready(
    table: Table,
    now: datetime,
    order: list[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The ids of pending rows whose time has come and that nobody holds, in claim order
    (and `where`, when given)."""
    return select(table.c.id).where(*_ready(table, now, where)).order_by(*order).limit(limit)


def ready_ids(
    conn: Connection,
    table: Table,
    now: datetime,
    order: list[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None = None,
    tenant: ColumnElement[Any] | None = None,
) -> list[Any]:
    """`ready`'s ids; with `tenant` (whose work a row is: its installation), shared fairly
    (`_in_turns`), lane by lane when the table has lanes (jobs have none: none is urgent)."""
    if tenant is None:
        return [row.id for row in conn.execute(ready(table, now, order, limit, where))]
    return _in_turns(conn, table, now, order, limit, where, tenant)


def _in_turns(
    conn: Connection,
    table: Table,
    now: datetime,
    order: list[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None,
    tenant: ColumnElement[Any],
) -> list[Any]:
    """Up to `limit` ready ids, the urgent lane's before the routine lane's, and within a
    lane round robin: each tenant's oldest before anyone's second, tenants by their oldest.
    Two statements whatever the backlog's size and the lanes: the lanes' tenants with ready
    work, then each one's first rows; a window function numbering every ready row by tenant
    cost several times more behind a flood (bench/RESULTS.md, section 15)."""
    ready = _ready(table, now, where)
    lane = table.c.lane if "lane" in table.c else None
    keys = [tenant] if lane is None else [lane, tenant]
    oldest = func.min(order[0] if lane is None else order[1])  # the first after the lane
    found = conn.execute(
        select(*keys).where(*ready).group_by(*keys).order_by(*keys[:-1], oldest).limit(limit)
    ).all()
    if not found:
        return []
    pairs = [(None if lane is None else row[0], row[-1]) for row in found]  # in turn order
    tenants = collections.Counter(in_lane for in_lane, _ in pairs)  # per lane, lanes in order
    firsts = [
        select(table.c.id, literal(turn).label("turn"))
        .where(
            *ready,
            *([] if lane is None else [lane == in_lane]),
            tenant.is_(None) if value is None else tenant == value,
        )
        .order_by(*order)
        # Each of the lane's other tenants has one at least: nobody's share can be more.
        .limit(limit - tenants[in_lane] + 1)
        .subquery()
        for turn, (in_lane, value) in enumerate(pairs)
    ]
    waiting: list[list[Any]] = [[] for _ in pairs]
    for row in conn.execute(union_all(*(select(first) for first in firsts))):
        waiting[row.turn].append(row.id)
    ids: list[Any] = []
    for in_lane in tenants:
        mine = [rows for (of, _), rows in zip(pairs, waiting, strict=True) if of == in_lane]
        turns = itertools.zip_longest(*mine)
        ids += [row_id for turn in turns for row_id in turn if row_id is not None]
    return ids[:limit]


def claim_ready(
    conn: Connection,
    table: Table,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    order: list[Column[Any]],
    limit: int,
    where: ColumnElement[bool] | None = None,
    tenant: ColumnElement[Any] | None = None,
) -> list[Any]:
    """Claim up to `limit` ready rows (that match `where`, when given) in one transaction,
    in turns by `tenant` when given (`ready_ids`); returns the rows this owner won."""
    ids = ready_ids(conn, table, now, order, limit, where, tenant)
    if not ids:
        return []
    until = now + lease
    # One statement claims and returns the rows won (RETURNING: SQLite 3.35+, PostgreSQL);
    # a row another worker claimed meanwhile fails the WHERE and is simply not returned.
    won = conn.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.status == PENDING, _free(table, now))
        .values(lease_until=until, lease_owner=owner, attempts=table.c.attempts + 1)
        .returning(*table.c)
    ).all()
    position = {row_id: index for index, row_id in enumerate(ids)}  # ids come in claim order
    return sorted(won, key=lambda row: position[row.id])


def renew(
    conn: Connection,
    table: Table,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    row_id: Any = None,
) -> int:
    """Extend the lease of the rows `owner` (a claim's fencing token) still holds: all of them
    (the heartbeat), or one (`row_id`, checked right before it is acted on). Returns how many
    it still held: 0 means another worker took over and this one must not act."""
    held = [table.c.lease_owner == owner, table.c.status == PENDING]
    if row_id is not None:
        held.append(table.c.id == row_id)
    result = conn.execute(update(table).where(*held).values(lease_until=now + lease))
    return int(result.rowcount)


def hold_many(
    conn: Connection,
    table: Table,
    ids: list[Any],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> set[Any]:
    """Renew the claims on `ids` right before acting on them, in one statement; returns the
    ids `owner` still held (the others were taken over and must not be acted on)."""
    if not ids:
        return set()
    held = conn.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.lease_owner == owner, table.c.status == PENDING)
        .values(lease_until=now + lease)
        .returning(table.c.id)
    )
    return {row[0] for row in held}


def finish(conn: Connection, table: Table, row_id: Any, *, owner: str, **values: Any) -> bool:
    """Record a claimed row's end (`values`: its status, time and result); only the lease
    holder may, so a replica whose claim lapsed cannot overwrite the one that took over."""
    held = [table.c.id == row_id, table.c.lease_owner == owner, table.c.status == PENDING]
    done = conn.execute(update(table).where(*held).values(lease_until=None, **values))
    return int(done.rowcount) == 1


def replay(conn: Connection, table: Table, key: str, dead: str, **values: Any) -> bool:
    """Queue a dead row again, due at once with its attempts afresh; False when there is no
    dead row `key`."""
    again = conn.execute(
        update(table)
        .where(table.c.key == key, table.c.status == dead)
        .values(status=PENDING, next_attempt_at=AT_ONCE, attempts=0, lease_until=None, **values)
    )
    return int(again.rowcount) == 1


def give_back(conn: Connection, table: Table, ids: list[Any], *, owner: str) -> int:
    """Release claimed rows never tried (a batch cut short for urgent work): free at once,
    and the claim's attempt is not counted."""
    if not ids:
        return 0
    result = conn.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.lease_owner == owner, table.c.status == PENDING)
        .values(lease_until=None, attempts=table.c.attempts - 1)
    )
    return int(result.rowcount)


def release(
    conn: Connection,
    table: Table,
    row_id: Any,
    *,
    owner: str,
    error: str | None,
    retry_at: datetime | None,
    dead: str,
    counted: bool = True,
    **also: Any,
) -> None:
    """Give a claimed row back to try at `retry_at`, or mark it `dead` (kept with its error);
    `also`: more columns to set (when a job ended).

    `counted=False` gives the attempt back (a rate limit): waiting is not failing, and a long
    limit must not use up the attempts that decide when work is given up. No `error`: it is
    waiting its turn (the write pace), not failing."""
    values: dict[str, Any] = {"last_error": error and error[:4000], "lease_until": None, **also}
    if not counted:
        values["attempts"] = table.c.attempts - 1
    if retry_at is None:
        values["status"] = dead
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(
        update(table).where(table.c.id == row_id, table.c.lease_owner == owner).values(**values)
    )


def busy(conn: Connection, tables: list[Table], now: datetime) -> bool:
    """True while any delivery, effect or job is ready to run now (tests and the demo wait on
    it)."""
    for table in tables:
        ready = select(table.c.id).where(table.c.status == PENDING, table.c.next_attempt_at <= now)
        if conn.execute(ready.limit(1)).first() is not None:
            return True
    return False
