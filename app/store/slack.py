"""Requests from Slack in the store: the channel each repository claims, each thread with its
issue, each message with its comment."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from app.store import queue
from app.store.tables import slack_channels, slack_messages, slack_threads

OPENING, OPEN, CLOSED, GONE, IGNORED = "opening", "open", "closed", "gone", "ignored"
WAITING, DONE = "waiting", "done"


@dataclass(frozen=True)
class ChannelIntake:
    """The repository that takes a channel's requests (`intake.slack.channels`); `rival` set:
    two repositories claim it (refused)."""

    channel: str
    repo: str
    installation_id: int | None
    rival: str | None = None

    def conflict(self) -> str:
        return (
            f"slack channel {self.channel} is claimed by both {self.repo} and {self.rival} "
            "(intake.slack.channels): its requests are ignored until one policy gives it up"
        )


def claim(
    conn: Connection,
    repo: str,
    installation_id: int | None,
    channels: Collection[str],
    now: datetime,
) -> list[ChannelIntake]:
    """Record the channels `repo`'s policy claims (and the ones it gave up); the channels
    another repository claims already come back as conflicts, refused."""
    wanted, conflicts = set(channels), []
    rows = {
        r.channel: r
        for r in conn.execute(
            select(slack_channels).where(
                or_(
                    slack_channels.c.channel.in_(sorted(wanted)),
                    slack_channels.c.repo == repo,
                    slack_channels.c.rival == repo,
                )
            )
        )
    }
    for channel in sorted(wanted):
        row = rows.get(channel)
        if row is None:
            conn.execute(
                slack_channels.insert().values(
                    channel=channel, repo=repo, installation_id=installation_id, updated_at=now
                )
            )
        elif row.repo == repo:
            conn.execute(
                update(slack_channels)
                .where(slack_channels.c.channel == channel)
                .values(installation_id=installation_id, updated_at=now)
            )
        else:
            if row.rival != repo:
                conn.execute(
                    update(slack_channels)
                    .where(slack_channels.c.channel == channel)
                    .values(rival=repo, updated_at=now)
                )
            conflicts.append(ChannelIntake(channel, row.repo, row.installation_id, repo))
    for channel, row in rows.items():
        if channel in wanted:
            continue
        if row.rival == repo:  # given up by the second claimant: the first keeps it
            conn.execute(
                update(slack_channels)
                .where(slack_channels.c.channel == channel)
                .values(rival=None, updated_at=now)
            )
        elif row.repo == repo and row.rival:  # given up by the first: the rival takes it
            conn.execute(
                update(slack_channels)
                .where(slack_channels.c.channel == channel)
                .values(repo=row.rival, rival=None, installation_id=None, updated_at=now)
            )
        elif row.repo == repo:
            conn.execute(delete(slack_channels).where(slack_channels.c.channel == channel))
    return conflicts


def intake_of(conn: Connection, channel: str) -> ChannelIntake | None:
    row = conn.execute(select(slack_channels).where(slack_channels.c.channel == channel)).first()
    if row is None:
        return None
    return ChannelIntake(row.channel, row.repo, row.installation_id, row.rival)


@dataclass(frozen=True)
class Thread:
    id: int
    channel: str
    thread_ts: str
    message_ts: str
    repo: str
    installation_id: int | None
    requester: str
    requester_name: str
    team_id: str | None
    permalink: str | None
    issue_number: int | None
    issue_url: str | None
    status: str


def _thread(row: Any) -> Thread:
    return Thread(**{name: getattr(row, name) for name in Thread.__dataclass_fields__})


def open_thread(
    conn: Connection,
    *,
    channel: str,
    thread_ts: str,
    message_ts: str,
    repo: str,
    installation_id: int | None,
    requester: str,
    team_id: str | None,
    now: datetime,
) -> int | None:
    """A new request for the thread; None when the thread has one already (a second
    reaction or mention changes nothing)."""
    row = {
        "channel": channel,
        "thread_ts": thread_ts,
        "message_ts": message_ts,
        "repo": repo,
        "installation_id": installation_id,
        "requester": requester,
        "requester_name": "",
        "team_id": team_id,
        "status": OPENING,
        "created_at": now,
    }
    inserted = queue.insert_new(conn, slack_threads, [row], "id", any_key=True)
    return next(iter(inserted), None)


def thread(conn: Connection, thread_id: int) -> Thread | None:
    row = conn.execute(select(slack_threads).where(slack_threads.c.id == thread_id)).first()
    return None if row is None else _thread(row)


def thread_at(conn: Connection, channel: str, thread_ts: str) -> Thread | None:
    row = conn.execute(
        select(slack_threads).where(
            slack_threads.c.channel == channel, slack_threads.c.thread_ts == thread_ts
        )
    ).first()
    return None if row is None else _thread(row)


def thread_of_issue(conn: Connection, repo: str, number: int) -> Thread | None:
    row = conn.execute(
        select(slack_threads).where(
            slack_threads.c.repo == repo, slack_threads.c.issue_number == number
        )
    ).first()
    return None if row is None else _thread(row)


def update_thread(
    conn: Connection, thread_id: int, /, *, only_if: str | None = None, **values: Any
) -> bool:
    """Set columns of a thread; `only_if`: only while it is in that status."""
    where = [slack_threads.c.id == thread_id]
    if only_if is not None:
        where.append(slack_threads.c.status == only_if)
    return conn.execute(update(slack_threads).where(*where).values(**values)).rowcount == 1


def add_message(
    conn: Connection,
    *,
    channel: str,
    ts: str,
    thread_id: int,
    user: str | None,
    origin: str,
    now: datetime,
    body: dict[str, Any] | None = None,
    comment_id: int | None = None,
) -> bool:
    """Record a message of a thread once; False when it is known already."""
    row = {
        "channel": channel,
        "ts": ts,
        "thread_id": thread_id,
        "user": user,
        "origin": origin,
        "comment_id": comment_id,
        "body": None if body is None else json.dumps(body),
        "status": WAITING if body is not None else DONE,
        "created_at": now,
    }
    return bool(queue.insert_new(conn, slack_messages, [row], "ts", any_key=True))


def waiting(conn: Connection, thread_id: int) -> list[dict[str, Any]]:
    """The replies that came before the thread's issue existed, oldest first; marked done."""
    rows = conn.execute(
        select(slack_messages)
        .where(
            slack_messages.c.thread_id == thread_id,
            slack_messages.c.status == WAITING,
        )
        .order_by(slack_messages.c.ts)
    ).all()
    if rows:
        conn.execute(
            update(slack_messages)
            .where(
                slack_messages.c.thread_id == thread_id,
                slack_messages.c.status == WAITING,
            )
            .values(status=DONE, body=None)
        )
    return [json.loads(row.body) for row in rows]


def message(conn: Connection, channel: str, ts: str) -> Any:
    return conn.execute(
        select(slack_messages).where(
            and_(slack_messages.c.channel == channel, slack_messages.c.ts == ts)
        )
    ).first()


def set_comment(conn: Connection, channel: str, ts: str, comment_id: int) -> None:
    conn.execute(
        update(slack_messages)
        .where(
            slack_messages.c.channel == channel,
            slack_messages.c.ts == ts,
        )
        .values(comment_id=comment_id)
    )


def thread_of_message(conn: Connection, channel: str, message_ts: str) -> Thread | None:
    """The request whose message is at `message_ts` (the one a reaction or mention opened)."""
    row = conn.execute(
        select(slack_threads).where(
            slack_threads.c.channel == channel, slack_threads.c.message_ts == message_ts
        )
    ).first()
    return None if row is None else _thread(row)


def rewrite_waiting(conn: Connection, channel: str, ts: str, text: str | None) -> bool:
    """A reply still waiting for its issue, edited (its new `text`) or deleted (None: it
    will not be posted); False when no such reply waits."""
    row = message(conn, channel, ts)
    if row is None or row.status != WAITING or row.body is None:
        return False
    where = (slack_messages.c.channel == channel) & (slack_messages.c.ts == ts)
    if text is None:
        conn.execute(update(slack_messages).where(where).values(status=DONE, body=None))
    else:
        body = {**json.loads(row.body), "text": text}
        conn.execute(update(slack_messages).where(where).values(body=json.dumps(body)))
    return True
