"""The outbox: effects on GitHub, Slack and PagerDuty, enqueued with their decision, sent at
least once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    update,
)

from app.sla import keys
from app.store import queue
from app.store.tables import outbox

# Where effects go; each target is sent by a loop of its own.
GITHUB, SLACK, PAGERDUTY = "github", "slack", "pagerduty"
TARGETS = (GITHUB, SLACK, PAGERDUTY)

PENDING, SENT, DEAD = "pending", "sent", "dead"
# Not owed: decided for a target the deployment does not use (never sent, never retried).
NOT_SENT = "not-sent"
PAUSE = "paused"  # the kind and status of an installation's rate-limit pause (pause_github)
# A GitHub write for an issue not opened yet (a call's, while GitHub is down) waits at this
# time until the issue exists (app.store.calls.opened).
HELD = datetime(9999, 1, 1, tzinfo=queue.AT_ONCE.tzinfo)


class Kind(Protocol):
    """An effect's kind as a row stores it: its value (`str`), and the target it goes to
    (`app.store.effects.EffectKind`; the outbox stores rows, the kinds are decided above it)."""

    @property
    def target(self) -> str: ...


# How many content-creating requests an effect makes (kind, payload, result when sent).
Weigh = Callable[[str, dict[str, Any], dict[str, Any] | None], int]


@dataclass(frozen=True)
class Item:
    id: int
    key: str
    target: str
    kind: str
    clock_id: int | None
    installation_id: int | None
    repo: str | None
    issue_number: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    result: dict[str, Any] | None
    urgent: bool = False  # production down: claimed first, never paced
    slotted: bool = False  # it was held back to a later time, which has come (its slot)


def enqueue(
    conn: Connection,
    kind: Kind,
    *,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    clock_id: int | None = None,
    installation_id: int | None = None,
    repo: str | None = None,
    issue_number: int | None = None,
    urgent: bool = False,
    later: bool = False,
    held: bool = False,
) -> bool:
    """Add an effect of `kind`, to its target, once per key; False when that effect was
    already enqueued. `urgent` effects (production down) are claimed before all others.
    `later`: inside `gathered`, inserted with the others at its end, in the same transaction
    (True is returned then: for callers that do not need to know). `held`: not sent until
    released (HELD)."""
    row = {
        "key": key,
        "target": kind.target,
        "kind": str(kind),
        "payload": json.dumps(payload),
        "status": PENDING,
        "next_attempt_at": HELD if held else queue.AT_ONCE,
        "created_at": now,
        "clock_id": clock_id,
        "installation_id": installation_id,
        "repo": repo,
        "issue_number": issue_number,
        "lane": queue.URGENT_LANE if urgent else queue.ROUTINE_LANE,
    }
    if later and queue.later(conn, _GATHERED, row):
        return True
    return bool(queue.insert_new(conn, outbox, [row], "key"))


_GATHERED = "sla_bot.outbox.gathered"
# Whose an effect is, for fair claims: its installation; a Slack alert has none, its
# repository then.
TENANT = case(
    (outbox.c.installation_id.is_(None), outbox.c.repo),
    else_=cast(outbox.c.installation_id, String),
)


def gathered(conn: Connection) -> contextlib.AbstractContextManager[None]:
    """Effects enqueued with `later=True` inside are inserted together when it ends, in one
    statement (a wave of deliveries' intake labels and comments: one round trip, not two a
    delivery); each still once per key."""
    return queue.gathered(
        conn, _GATHERED, lambda rows: queue.insert_missing(conn, outbox, rows, "key")
    )


def claim_ready(
    conn: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int = 100,
    targets: Collection[str] | None = None,
) -> list[Item]:
    """Claim ready effects in the order decided, taken in turns by installation (TENANT),
    in one transaction for the batch; only those
    for `targets` when given (a process never claims what it has no credentials to send, and
    each target is sent by a loop of its own)."""
    rows = queue.claim_ready(
        conn,
        outbox,
        owner=owner,
        now=now,
        lease=lease,
        order=[outbox.c.lane, outbox.c.id],
        limit=limit,
        where=None if targets is None else outbox.c.target.in_(sorted(targets)),
        tenant=TENANT,
    )
    return [_item(row) for row in rows]


def owed(conn: Connection, targets: Collection[str]) -> dict[str, int]:
    """Pending effects per target, for these targets (those a process cannot send to)."""
    if not targets:
        return {}
    rows = conn.execute(
        select(outbox.c.target, func.count())
        .where(outbox.c.status == PENDING, outbox.c.target.in_(sorted(targets)))
        .group_by(outbox.c.target)
    )
    return {str(target): int(count) for target, count in rows}


def settle_unused(conn: Connection, reasons: dict[str, str], now: datetime) -> dict[str, int]:
    """Record the pending effects of targets the deployment does not use as not sent, each
    with its target's reason (`reasons`: target -> why); a claim still held is left to its
    holder. Returns how many per target."""
    settled = {}
    for target, reason in sorted(reasons.items()):
        done = conn.execute(
            update(outbox)
            .where(
                outbox.c.target == target,
                outbox.c.status == PENDING,
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
            )
            .values(status=NOT_SENT, lease_until=None, last_error=reason)
        )
        if done.rowcount:
            settled[target] = int(done.rowcount)
    return settled


def get(conn: Connection, item_id: int) -> Item | None:
    row = conn.execute(select(outbox).where(outbox.c.id == item_id)).first()
    return None if row is None else _item(row)


def by_key(conn: Connection, key: str) -> Item | None:
    row = conn.execute(select(outbox).where(outbox.c.key == key)).first()
    return None if row is None else _item(row)


def pending(conn: Connection, key: str) -> bool:
    """The effect of `key` is decided and not sent yet (nor given up)."""
    status = conn.execute(select(outbox.c.status).where(outbox.c.key == key)).scalar()
    return status == PENDING


def newer(conn: Connection, item: Item) -> bool:
    """Another effect of the same kind for the same issue was decided after `item`."""
    found = conn.execute(
        select(outbox.c.id)
        .where(
            outbox.c.kind == item.kind,
            outbox.c.repo == item.repo,
            outbox.c.issue_number == item.issue_number,
            outbox.c.id > item.id,
        )
        .limit(1)
    ).first()
    return found is not None


def thread_starter(
    conn: Connection, repo: str, number: int, channel: str, kinds: list[str]
) -> str | None:
    """The key of the issue's first top-level Slack message of these kinds in `channel`: the
    thread its later alerts reply in."""
    rows = conn.execute(
        select(outbox.c.key, outbox.c.payload)
        .where(
            outbox.c.target == SLACK,
            outbox.c.repo == repo,
            outbox.c.issue_number == number,
            outbox.c.kind.in_(kinds),
            outbox.c.status.not_in([DEAD, NOT_SENT]),
        )
        .order_by(outbox.c.id)
    )
    for row in rows:
        payload = json.loads(row.payload)
        if payload.get("channel") == channel and not payload.get("thread_of"):
            return str(row.key)
    return None


def _item(row: Any) -> Item:
    return Item(
        id=row.id,
        key=row.key,
        target=row.target,
        kind=row.kind,
        clock_id=row.clock_id,
        installation_id=row.installation_id,
        repo=row.repo,
        issue_number=row.issue_number,
        payload=json.loads(row.payload),
        status=row.status,
        attempts=row.attempts,
        result=None if row.result is None else json.loads(row.result),
        urgent=row.lane == queue.URGENT_LANE,
        slotted=row.next_attempt_at > queue.AT_ONCE,
    )


def mark_sent(
    conn: Connection, item_id: int, *, owner: str, now: datetime, result: dict[str, Any]
) -> bool:
    """Record success; only the lease holder may, so a stale replica cannot overwrite."""
    return queue.finish(
        conn, outbox, item_id, owner=owner, status=SENT, sent_at=now, result=json.dumps(result)
    )


def mark_sent_many(
    conn: Connection, results: dict[int, dict[str, Any]], *, owner: str, now: datetime
) -> set[int]:
    """Record several successes in one transaction (a wave of concurrent sends); returns
    the ids recorded. Only the lease holder may, as in `mark_sent`."""
    if not results:
        return set()
    # Two statements for the wave whatever its size (one a row was a round trip each):
    # the claims still held become sent, then each gets its own result.
    rows = conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(results)),
            outbox.c.lease_owner == owner,
            outbox.c.status == PENDING,
        )
        .values(status=SENT, sent_at=now, lease_until=None)
        .returning(outbox.c.id)
    )
    recorded = {row[0] for row in rows}
    if recorded:
        conn.execute(
            _RECORD_RESULT,
            [{"item_id": i, "outcome": json.dumps(results[i])} for i in sorted(recorded)],
        )
    return recorded


_RECORD_RESULT = (
    update(outbox).where(outbox.c.id == bindparam("item_id")).values(result=bindparam("outcome"))
)


def hold_many(
    conn: Connection, ids: list[int], *, owner: str, now: datetime, lease: timedelta
) -> set[int]:
    """Renew the claims on a wave of effects right before sending them; the ids still held."""
    return queue.hold_many(conn, outbox, ids, owner=owner, now=now, lease=lease)


def give_back(conn: Connection, ids: list[int], *, owner: str) -> int:
    """Release claimed effects never tried (urgent work cuts in), attempt not counted."""
    return queue.give_back(conn, outbox, ids, owner=owner)


def hold(conn: Connection, item_id: int, *, owner: str, now: datetime, lease: timedelta) -> bool:
    """Renew the claim on one effect right before sending it; False: the claim was lost."""
    return queue.renew(conn, outbox, owner=owner, now=now, lease=lease, row_id=item_id) == 1


def renew(conn: Connection, *, owner: str, now: datetime, lease: timedelta) -> int:
    """The heartbeat: extend every claim of this batch still held."""
    return queue.renew(conn, outbox, owner=owner, now=now, lease=lease)


def pause_github(
    conn: Connection, installation_id: int, *, until: datetime, owner: str, now: datetime
) -> int:
    """Push an installation's waiting GitHub writes back to `until` (a rate limit), including
    those this batch holds, which are released. Other workers' claims are left alone: each
    meets the limit and reschedules itself. Returns how many effects were moved."""
    moved = conn.execute(
        update(outbox)
        .where(
            outbox.c.target == GITHUB,
            outbox.c.installation_id == installation_id,
            outbox.c.status == PENDING,
            outbox.c.next_attempt_at < until,
            or_(
                outbox.c.lease_until.is_(None),
                outbox.c.lease_until < now,
                outbox.c.lease_owner == owner,
            ),
        )
        .values(
            next_attempt_at=until,
            lease_until=None,
            # Claimed by this batch but never tried: the claim's attempt is given back.
            attempts=case(
                (
                    and_(outbox.c.lease_owner == owner, outbox.c.lease_until.is_not(None)),
                    outbox.c.attempts - 1,
                ),
                else_=outbox.c.attempts,
            ),
        )
    )
    _note_pause(conn, installation_id, until, now)
    return int(moved.rowcount)


def _pause_key(installation_id: int) -> str:
    return keys.key("github", PAUSE, installation_id)


def _note_pause(conn: Connection, installation_id: int, until: datetime, now: datetime) -> None:
    """Keep when the installation's pause ends, in a row of its own (status `paused`: never
    claimed nor sent), so that writes decided later, by any process, wait for it too."""
    key = _pause_key(installation_id)
    row = {
        "key": key,
        "target": GITHUB,
        "kind": PAUSE,
        "payload": "{}",
        "status": PAUSE,
        "next_attempt_at": until,
        "created_at": now,
        "installation_id": installation_id,
    }
    if not queue.insert_new(conn, outbox, [row], "key"):
        conn.execute(
            update(outbox)
            .where(outbox.c.key == key, outbox.c.next_attempt_at < until)
            .values(next_attempt_at=until)
        )


def pauses(conn: Connection, installations: set[int], now: datetime) -> dict[int, datetime]:
    """The installations among these that GitHub told to stop, and until when."""
    rows = conn.execute(
        select(outbox.c.installation_id, outbox.c.next_attempt_at).where(
            outbox.c.key.in_([_pause_key(i) for i in sorted(installations)]),
            outbox.c.next_attempt_at > now,
        )
    )
    return {int(row.installation_id): row.next_attempt_at for row in rows}


def content_writes(
    conn: Connection,
    installation_id: int,
    kinds: tuple[str, ...],
    since: datetime,
    now: datetime,
    weigh: Weigh,
) -> list[datetime]:
    """When this installation's content-creating GitHub requests were sent since `since`,
    and when those held back for later are due (each has its slot already), oldest first;
    an effect counts as many times as `weigh` says (a label set: once per label)."""
    scope = (
        outbox.c.target == GITHUB,
        outbox.c.installation_id == installation_id,
        outbox.c.kind.in_(kinds),
    )
    sent_rows = conn.execute(
        select(outbox.c.sent_at, outbox.c.kind, outbox.c.result).where(
            *scope, outbox.c.status == SENT, outbox.c.sent_at >= since
        )
    )
    times: list[datetime] = []
    for row in sent_rows:
        result = json.loads(row.result) if row.result else None
        times += [row.sent_at] * weigh(row.kind, {}, result)
    held_rows = conn.execute(
        select(outbox.c.next_attempt_at, outbox.c.kind, outbox.c.payload).where(
            *scope, outbox.c.status == PENDING, outbox.c.next_attempt_at > now
        )
    )
    for row in held_rows:
        times += [row.next_attempt_at] * weigh(row.kind, json.loads(row.payload), None)
    return sorted(times)


def replay(conn: Connection, key: str) -> bool:
    """Queue a dead effect again, due at once; False when there is no dead effect `key`."""
    return queue.replay(conn, outbox, key, DEAD)


def mark_retry(
    conn: Connection,
    item_id: int,
    *,
    owner: str,
    error: str | None,
    retry_at: datetime | None,
    counted: bool = True,
) -> None:
    """Release the lease and try again at `retry_at`; None gives up (dead, kept with its error)."""
    queue.release(
        conn,
        outbox,
        item_id,
        owner=owner,
        error=error,
        retry_at=retry_at,
        dead=DEAD,
        counted=counted,
    )


def failed(conn: Connection, limit: int = 200) -> list[tuple[Item, str | None]]:
    """Dead effects, those waiting for a retry after an error, and those not sent (their
    target unused by the deployment), with the error or reason."""
    rows = conn.execute(
        select(outbox)
        .where(
            or_(
                outbox.c.status.in_([DEAD, NOT_SENT]),
                (outbox.c.status == PENDING) & outbox.c.last_error.is_not(None),
            )
        )
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [(_item(row), row.last_error) for row in rows]
