"""Which repository takes a Slack channel's requests: claimed by the policies as they are
read, refused (one line naming both) when two repositories claim one channel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from app.github.policies import OnRead
from app.sla.policy import Policy
from app.store import repos, slack
from app.store.database import Database

log = logging.getLogger(__name__)


def recorder(db: Database, time: Callable[[], datetime]) -> OnRead:
    """The PolicyLoader's `on_read`: each repository's claims, kept in the store."""

    async def record(installation_id: int | None, repo: str, policy: Policy) -> None:
        claims = policy.intake.slack.claims(repo)
        conflicts = await db.run(slack.claim, repo, installation_id, claims, time())
        for taken in conflicts:
            log.error(taken.conflict(), extra={"channel": taken.channel, "repo": repo})

    return record


def resolve(conn: Connection, channel: str, fallback: Policy) -> slack.ChannelIntake | None:
    """The repository taking `channel`'s requests: as a policy read claimed it, else as the
    deployment's policy maps it (channel -> OWNER/NAME); None: nobody, or two (refused)."""
    found = slack.intake_of(conn, channel)
    if found is None:
        named = fallback.intake.slack.channels.get(channel)
        if named is None:
            return None
        return slack.ChannelIntake(channel, named, repos.installation_of(conn, named))
    if found.rival is not None:
        log.warning(found.conflict(), extra={"channel": channel})
        return None
    if found.installation_id is None:  # taken over from a rival: its installation, as known
        return slack.ChannelIntake(channel, found.repo, repos.installation_of(conn, found.repo))
    return found
