"""Calls to the escalation number: one row per Twilio CallSid, and the issue it opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from app.store import queue
from app.store.outbox import HELD
from app.store.tables import calls, clocks, outbox

# How long an issue being opened holds back that issue's own deliveries (a worker that died
# between GitHub's answer and its record must not hold them for ever).
OPENING = timedelta(minutes=2)


@dataclass(frozen=True)
class Call:
    id: int
    sid: str
    installation_id: int | None
    repo: str
    to_number: str
    from_number: str
    called_at: datetime
    clock_id: int | None
    issue_number: int | None
    issue_url: str | None
    outcome: str | None
    recording_url: str | None
    recording_seconds: int | None
    transcript: str | None
    transcript_status: str | None
    version: int

    @property
    def placeholder(self) -> int:
        """The issue number its clocks carry until the issue is opened."""
        return -self.id


def _call(row: Any) -> Call:
    return Call(**{name: getattr(row, name) for name in Call.__dataclass_fields__})


def add(
    conn: Connection,
    *,
    sid: str,
    installation_id: int | None,
    repo: str,
    to_number: str,
    from_number: str,
    at: datetime,
) -> Call | None:
    """The call, once per CallSid: None when Twilio (or a replica) recorded it already."""
    row = {
        "sid": sid,
        "installation_id": installation_id,
        "repo": repo,
        "to_number": to_number,
        "from_number": from_number,
        "called_at": at,
    }
    if not queue.insert_new(conn, calls, [row], "sid"):
        return None
    return by_sid(conn, sid)


def by_sid(conn: Connection, sid: str) -> Call | None:
    row = conn.execute(select(calls).where(calls.c.sid == sid)).first()
    return None if row is None else _call(row)


def get(conn: Connection, call_id: int) -> Call | None:
    row = conn.execute(select(calls).where(calls.c.id == call_id)).first()
    return None if row is None else _call(row)


def change(conn: Connection, call: Call, **values: Any) -> bool:
    """Set `values` (only those that differ) and bump the version; False when nothing changed."""
    current = get(conn, call.id)
    if current is None:
        return False
    differ = {k: v for k, v in values.items() if getattr(current, k) != v}
    if not differ:
        return False
    conn.execute(
        update(calls).where(calls.c.id == call.id).values(version=calls.c.version + 1, **differ)
    )
    return True


def set_clock(conn: Connection, call: Call, clock_id: int) -> None:
    conn.execute(update(calls).where(calls.c.id == call.id).values(clock_id=clock_id))


def opening(conn: Connection, call: Call, at: datetime | None) -> None:
    """GitHub is being asked to open the call's issue (None: asked and answered)."""
    conn.execute(update(calls).where(calls.c.id == call.id).values(opening_at=at))


def opening_in(conn: Connection, repo: str, now: datetime) -> bool:
    """An issue of `repo` is being opened for a call, its number not known yet."""
    found = conn.execute(
        select(calls.c.id)
        .where(
            calls.c.repo == repo,
            calls.c.issue_number.is_(None),
            calls.c.opening_at.is_not(None),
            calls.c.opening_at > now - OPENING,
        )
        .limit(1)
    ).first()
    return found is not None


def opened(conn: Connection, call: Call, number: int, url: str, title: str) -> bool:
    """The call's issue exists: its clocks and the effects decided for it take its number,
    and the GitHub writes held for it (an acknowledgement while GitHub was down) go out."""
    done = conn.execute(
        update(calls)
        .where(calls.c.id == call.id, calls.c.issue_number.is_(None))
        .values(issue_number=number, issue_url=url, opening_at=None)
    ).rowcount
    if not done:
        return False
    conn.execute(
        update(clocks)
        .where(clocks.c.repo == call.repo, clocks.c.issue_number == call.placeholder)
        .values(issue_number=number, issue_url=url, issue_title=title)
    )
    conn.execute(
        update(outbox)
        .where(outbox.c.repo == call.repo, outbox.c.issue_number == call.placeholder)
        .values(issue_number=number)
    )
    conn.execute(
        update(outbox)
        .where(
            outbox.c.repo == call.repo,
            outbox.c.issue_number == number,
            outbox.c.status == queue.PENDING,
            outbox.c.next_attempt_at == HELD,
        )
        .values(next_attempt_at=queue.AT_ONCE)
    )
    return True


def of_clock(conn: Connection, clock_id: int) -> Call | None:
    row = conn.execute(select(calls).where(calls.c.clock_id == clock_id)).first()
    return None if row is None else _call(row)
