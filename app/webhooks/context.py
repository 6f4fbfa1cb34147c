"""What a handler gets besides the event: the delivery, the time, the store and the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.policies import PolicyLoader
from app.responders import Roles
from app.sla.policy import Policy
from app.store.database import Database


@dataclass(frozen=True)
class Context:
    delivery_id: str
    installation_id: int | None
    now: datetime
    db: Database
    policies: PolicyLoader
    roles: Roles | None = None  # None without GitHub credentials

    async def policy(self, repo: str) -> Policy:
        return await self.policies.get(self.installation_id, repo)

    async def has_role(self, repo: str, login: str, policy: Policy) -> bool:
        """The commenter's role on the repository is one the policy counts as a responder."""
        wanted = policy.responders.roles
        if not wanted or self.roles is None or self.installation_id is None:
            return False
        return await self.roles.role(self.installation_id, repo, login) in wanted
