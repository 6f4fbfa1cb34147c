"""What a handler gets besides the event: the delivery, the time, the store and the policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.policies import PolicyLoader
from app.sla.policy import Policy
from app.store.database import Database


@dataclass(frozen=True)
class Context:
    delivery_id: str
    installation_id: int | None
    now: datetime
    db: Database
    policies: PolicyLoader

    async def policy(self, repo: str) -> Policy:
        return await self.policies.get(self.installation_id, repo)
