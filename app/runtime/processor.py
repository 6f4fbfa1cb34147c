"""Process stored deliveries: claim one, run every handler it matches, record the outcome."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.issue import MalformedPayload
from app.metrics import Metrics, event_label
from app.policies import PolicyLoader
from app.responders import Roles
from app.runtime import leases
from app.store import deliveries, repos
from app.store.database import Database
from app.store.deliveries import Delivery
from app.webhooks.context import Context

log = logging.getLogger(__name__)

# Waits between attempts; after the last one the delivery is dead, kept with its error.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)


class Processor:
    """Turns stored deliveries into clock changes and outbox effects."""

    def __init__(
        self, *, db: Database, router: Router, policies: PolicyLoader, owner: str,
        metrics: Metrics | None = None, lease: timedelta = timedelta(minutes=2),
        roles: Roles | None = None,
    ):  # fmt: skip
        self._roles = roles
        self._db = db
        self._router = router
        self._policies = policies
        self.owner = owner
        self._metrics = metrics
        self._lease = lease

    async def claim(self, now: datetime, limit: int = 50) -> tuple[str, list[Delivery]]:
        """The oldest ready deliveries, claimed in one transaction under a new fencing token."""
        token = leases.token(self.owner)
        batch = await self._db.run(
            deliveries.claim_ready, owner=token, now=now, lease=self._lease, limit=limit
        )
        return token, batch

    async def renew(self, token: str, now: datetime) -> int:
        """The heartbeat of a batch in hand."""
        return await self._db.run(deliveries.renew, owner=token, now=now, lease=self._lease)

    @property
    def beat(self) -> float:
        return leases.beat_interval(self._lease)

    async def process(self, delivery: Delivery, now: datetime, token: str) -> str:
        """Run the handlers of a delivery claimed under `token` and record the outcome; a
        delivery whose claim was lost (another worker took it over) is left alone."""
        if not await self._db.run(
            deliveries.hold, delivery.id, owner=token, now=now, lease=self._lease
        ):
            log.warning("delivery claim lost; another worker has it",
                        extra={"delivery_id": delivery.id})  # fmt: skip
            return "lost"
        started = time.perf_counter()
        ctx = Context(
            delivery_id=delivery.id,
            installation_id=delivery.installation_id,
            now=now,
            db=self._db,
            policies=self._policies,
            roles=self._roles,
        )
        foreign = await self._foreign(delivery)
        try:
            event = Event(json.loads(delivery.body), event=delivery.event, delivery_id=delivery.id)
            callbacks = self._router.fetch(event)
        except (TypeError, ValueError, RecursionError) as exc:  # an `action` not a string, say
            errors, permanent = [f"malformed payload: {type(exc).__name__}: {exc}"], True
        else:
            if foreign:
                errors, permanent = [foreign], True
                log.warning("delivery parked", extra={"delivery_id": delivery.id,
                                                      "reason": foreign})  # fmt: skip
            else:
                errors, permanent = await self._dispatch(event, callbacks, ctx)
        if not errors:
            await self._db.run(deliveries.finish, delivery.id, owner=token, now=now)
            outcome = "processed"
        else:
            retry_at = None
            if not permanent and delivery.attempts <= len(RETRY_DELAYS):
                retry_at = now + RETRY_DELAYS[delivery.attempts - 1]
            await self._db.run(
                deliveries.fail,
                delivery.id,
                owner=token,
                error="; ".join(errors),
                retry_at=retry_at,
            )
            outcome = "retry" if retry_at else "dead"
        elapsed = time.perf_counter() - started
        if self._metrics is not None:
            label = event_label(delivery.event)
            self._metrics.deliveries.labels(label, outcome).inc()
            self._metrics.processing.labels(label).observe(elapsed)
        log.info(
            "delivery %s",
            outcome,
            extra={
                "delivery_id": delivery.id,
                "event": delivery.event,
                "action": delivery.action,
                "installation_id": delivery.installation_id,
                "repo": delivery.repo,
                "issue": delivery.issue_number,
                "outcome": outcome,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        return outcome

    async def _foreign(self, delivery: Delivery) -> str | None:
        """Why a delivery must not be acted on: it names an installation that does not own
        its repository (a tenant mix-up). Parked as dead, it can be replayed once explained."""
        if delivery.repo is None or delivery.installation_id is None:
            return None
        owner = await self._db.run(repos.owner_of, delivery.repo)
        if owner is None or owner == delivery.installation_id:
            return None
        return (
            f"parked: installation {delivery.installation_id} does not own {delivery.repo} "
            f"(installation {owner} does)"
        )

    async def _dispatch(
        self, event: Event, callbacks: Iterable[Callable[..., Awaitable[None]]], ctx: Context
    ) -> tuple[list[str], bool]:
        """Run each matching handler; one failing does not stop its siblings."""
        errors: list[str] = []
        permanent = False
        for callback in sorted(callbacks, key=lambda c: c.__qualname__):
            try:
                await callback(event, ctx)
            except MalformedPayload as exc:
                permanent = True
                errors.append(f"{callback.__qualname__}: malformed payload: {exc}")
                log.warning(
                    "malformed payload", extra={"delivery_id": ctx.delivery_id, "error": str(exc)}
                )
            except Exception as exc:
                errors.append(f"{callback.__qualname__}: {type(exc).__name__}: {exc}")
                log.exception(
                    "handler failed",
                    extra={"delivery_id": ctx.delivery_id, "handler": callback.__qualname__},
                )
        return errors, permanent
