"""Who is who in the Slack workspace sla-bot is installed in, asked once and cached: its team
id (`auth.test`), a user group's members (`usergroups.users.list`) and a user's standing
(`users.info`: guests are `is_restricted` / `is_ultra_restricted`, Slack Connect members
belong to another team). The page's buttons are checked against these.

https://docs.slack.dev/reference/methods/auth.test
https://docs.slack.dev/reference/methods/usergroups.users.list
https://docs.slack.dev/reference/methods/users.info
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.notify.slack import Notifier

TTL = timedelta(minutes=5)  # a change of the on-call group counts within this


@dataclass(frozen=True)
class Member:
    """A user as sla-bot's workspace sees them."""

    id: str
    team_id: str
    guest: bool  # a single- or multi-channel guest
    stranger: bool  # from an organisation on the other side of a Slack Connect channel


class Directory:
    """Cached answers from Slack (NotifyError when Slack cannot be asked)."""

    def __init__(self, notifier: Notifier, time: Callable[[], datetime], ttl: timedelta = TTL):
        self._notifier = notifier
        self._time = time
        self._ttl = ttl
        self._team: str | None = None  # a workspace never changes its id: kept for good
        self._cache: dict[tuple[str, str], tuple[datetime, Any]] = {}

    async def team_id(self) -> str:
        if self._team is None:
            answer = await self._notifier.ask("auth.test")
            self._team = str(answer["team_id"])
        return self._team

    async def group_members(self, group: str) -> frozenset[str]:
        async def fetch() -> frozenset[str]:
            answer = await self._notifier.ask("usergroups.users.list", usergroup=group)
            return frozenset(str(u) for u in answer.get("users") or ())

        found: frozenset[str] = await self._cached("group", group, fetch)
        return found

    async def member(self, user: str) -> Member:
        async def fetch() -> Member:
            found = (await self._notifier.ask("users.info", user=user))["user"]
            return Member(
                id=str(found["id"]),
                team_id=str(found.get("team_id") or ""),
                guest=bool(found.get("is_restricted") or found.get("is_ultra_restricted")),
                stranger=bool(found.get("is_stranger")),
            )

        member: Member = await self._cached("user", user, fetch)
        return member

    async def _cached(self, kind: str, key: str, fetch: Callable[[], Any]) -> Any:
        now = self._time()
        hit = self._cache.get((kind, key))
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = await fetch()
        self._cache[(kind, key)] = (now, value)
        return value
