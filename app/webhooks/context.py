"""What a handler gets besides the event: the delivery, the time, the store and the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Concatenate, ParamSpec

from sqlalchemy import Connection

from app.github.policies import PolicyLoader, Read
from app.github.responders import Roles
from app.sla.policy import Policy
from app.store.database import Database

P = ParamSpec("P")
Write = Callable[[Connection], object]


@dataclass(frozen=True)
class Context:
    delivery_id: str
    installation_id: int | None
    now: datetime
    db: Database
    policies: PolicyLoader
    roles: Roles | None = None  # None without GitHub credentials
    writes: list[Write] = field(default_factory=list)

    def write(
        self, fn: Callable[Concatenate[Connection, P], object], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """What the handler changes in the store: run after it returns, in the transaction
        that marks the delivery processed (one for the whole window), so a delivery's clock
        changes and effects are stored exactly when it counts as processed."""
        self.writes.append(lambda conn: fn(conn, *args, **kwargs))

    async def policy(self, repo: str) -> Policy:
        """The repository's policy; while GitHub cannot be asked, the one last read from it.
        Without either, GitHub's error (the delivery is retried)."""
        read = await self.read_policy(repo)
        if read.error is not None and not read.own:
            raise read.error.with_traceback(None)
        return read.policy

    async def paging_policy(
        self, repo: str, pages: Callable[[Policy], bool]
    ) -> tuple[Policy, str | None]:
        """The repository's policy and, when GitHub could not be asked, why not. A change
        that pages never waits on GitHub: it goes by the best policy at hand (`pages` tells,
        by that policy); any other waits for the repository's own (GitHub's error: retried),
        since promising a customer a time by a policy that may not be theirs is worse."""
        read = await self.read_policy(repo)
        if read.error is not None and not read.own and not pages(read.policy):
            raise read.error.with_traceback(None)
        return read.policy, read.note

    async def read_policy(self, repo: str) -> Read:
        """The repository's policy, else the best at hand and why (`PolicyLoader.read`)."""
        return await self.policies.read(self.installation_id, repo)

    async def has_role(self, repo: str, login: str, policy: Policy) -> bool:
        """The commenter's role on the repository is one the policy counts as a responder."""
        wanted = policy.responders.roles
        if not wanted or self.roles is None or self.installation_id is None:
            return False
        return await self.roles.role(self.installation_id, repo, login) in wanted
