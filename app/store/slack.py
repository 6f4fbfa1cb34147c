"""Requests from Slack in the store: the channel each repository claims, each thread with its
issue, each message with its comment."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, or_, select, update

from app.store.tables import slack_channels

OPENING, OPEN, CLOSED, GONE, IGNORED = "opening", "open", "closed", "gone", "ignored"
WAITING, DONE = "waiting", "done"


@dataclass(frozen=True)
class Owner:
    """Who takes a channel's requests; `rival` set: two repositories claim it (refused)."""

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
    conn: Connection, repo: str, installation_id: int | None, channels: Collection[str],
    now: datetime,
) -> list[Owner]:  # fmt: skip
    """Record the channels `repo`'s policy claims (and the ones it gave up); the channels
    another repository claims already come back as conflicts, refused."""
    wanted, conflicts = set(channels), []
    rows = {r.channel: r for r in conn.execute(select(slack_channels).where(or_(
        slack_channels.c.channel.in_(sorted(wanted)), slack_channels.c.repo == repo,
        slack_channels.c.rival == repo,
    )))}  # fmt: skip
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
            conflicts.append(Owner(channel, row.repo, row.installation_id, repo))
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
            conn.execute(update(slack_channels).where(slack_channels.c.channel == channel)
                         .values(repo=row.rival, rival=None, installation_id=None,
                                 updated_at=now))  # fmt: skip
        elif row.repo == repo:
            conn.execute(delete(slack_channels).where(slack_channels.c.channel == channel))
    return conflicts


def owner(conn: Connection, channel: str) -> Owner | None:
    row = conn.execute(select(slack_channels).where(slack_channels.c.channel == channel)).first()
    if row is None:
        return None
    return Owner(row.channel, row.repo, row.installation_id, row.rival)
