"""Process stored deliveries: claim one, run every handler it matches, record the outcome."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from gidgethub.routing import Router
from gidgethub.sansio import Event
from sqlalchemy import Connection

from app.engine import backoff, leases
from app.github.policies import PolicyLoader
from app.github.responders import Roles
from app.logs import failure
from app.metrics import Metrics, event_label
from app.sla.issue import MalformedPayload
from app.store import clocks, deliveries, issues, jobs, outbox, queue, repos
from app.store.database import Database
from app.store.deliveries import Delivery
from app.webhooks.context import Context, Write

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """A delivery's handlers run: their errors, and the store writes they owe."""

    errors: list[str]
    permanent: bool
    writes: list[Write]
    elapsed: float


@dataclass(frozen=True)
class Claim:
    """Deliveries claimed under one fencing token, with the installation each tracked
    repository among them belongs to (read in the claim's transaction: a delivery from
    another installation is parked, not processed)."""

    token: str
    batch: list[Delivery]
    owners: dict[str, int]


def _claimed(
    conn: Connection, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> tuple[list[Delivery], dict[str, int]]:
    batch = deliveries.claim_ready(conn, owner=owner, now=now, lease=lease, limit=limit)
    return batch, repos.installations_of(conn, sorted({d.repo for d in batch if d.repo}))


class Processor:
    """Turns stored deliveries into clock changes and outbox effects."""

    def __init__(
        self,
        *,
        db: Database,
        router: Router,
        policies: PolicyLoader,
        owner: str,
        metrics: Metrics | None = None,
        lease: timedelta = timedelta(minutes=2),
        roles: Roles | None = None,
    ):
        self._roles = roles
        self._db = db
        self._router = router
        self._policies = policies
        self.owner = owner
        self._metrics = metrics
        self._lease = lease
        # Deliveries about different issues processed at once (their writes in one
        # transaction): 32 measured best end to end (bench/RESULTS.md, compare).
        self.wave_size = 32

    async def claim(self, now: datetime, limit: int = 50) -> Claim:
        """The oldest ready deliveries, claimed in one transaction under a new fencing token."""
        token = leases.token(self.owner)
        batch, owners = await self._db.run(
            _claimed, owner=token, now=now, lease=self._lease, limit=limit
        )
        return Claim(token, batch, owners)

    async def renew(self, token: str, now: datetime) -> int:
        """The heartbeat of a batch in hand."""
        return await self._db.run(deliveries.renew, owner=token, now=now, lease=self._lease)

    @property
    def beat(self) -> float:
        return leases.beat_interval(self._lease)

    async def process_batch(
        self,
        claim: Claim,
        time: Callable[[], datetime],
        *,
        cut_in: Callable[[], bool] = lambda: False,
        done: Callable[[bool], None] = lambda planned: None,
    ) -> int:
        """Process a claimed batch in waves of deliveries about different issues run together
        (two about one issue keep their order); each wave's claims are renewed, its writes
        stored and its successes recorded in one transaction, and then `done(planned)`
        (`planned`: the wave planned a job). `cut_in()` true between waves (urgent work
        arrived) gives the rest of a routine batch back. Returns how many were handled."""
        handled, rest, token, owners = 0, claim.batch, claim.token, claim.owners
        while rest:
            if rest[0].lane != queue.URGENT_LANE and cut_in():
                await self._db.run(deliveries.give_back, [d.id for d in rest], owner=token)
                return handled
            todo, rest = delivery_wave(rest, self.wave_size)
            now = time()
            # Handlers only read; what they write waits for the commit, which re-checks the
            # claims: one taken over meanwhile stores nothing.
            outcomes = await asyncio.gather(*(self._handle(d, now, owners) for d in todo))
            results = dict(zip(todo, outcomes, strict=True))
            ready = [(d, o.writes) for d, o in results.items() if not o.errors]
            committed, failed, planned = await self._commit(ready, token, now)
            for delivery, outcome in results.items():
                status = "processed"
                if delivery in failed:
                    outcome.errors.append(failed[delivery])
                elif not outcome.errors and delivery.id not in committed:
                    continue  # the claim was lost before the commit: another worker has it
                if outcome.errors:
                    status = await self._failed(
                        delivery, token, now, outcome.errors, outcome.permanent
                    )
                self._record(delivery, status, outcome.elapsed)
            handled += len(todo)
            done(planned)
        return handled

    async def _commit(
        self, ready: list[tuple[Delivery, list[Write]]], token: str, now: datetime
    ) -> tuple[set[str], dict[Delivery, str], bool]:
        """Store what the wave's handlers wrote and mark their deliveries processed, in one
        transaction; when it fails, each delivery alone, so one bad write fails only its own
        delivery. The ids committed, the deliveries whose writes failed with the error, and
        whether a job was planned."""
        if not ready:
            return set(), {}, False
        if len(ready) > 1:
            try:
                held, planned = await self._db.run(self._commit_wave, ready, owner=token, now=now)
                return held, {}, planned
            except Exception as exc:  # told below, for the delivery it belongs to
                log.info(
                    "wave commit failed; one delivery at a time",
                    extra={"error": type(exc).__name__},
                )
        committed: set[str] = set()
        failed: dict[Delivery, str] = {}
        any_planned = False
        for one in ready:
            try:
                held, planned = await self._db.run(self._commit_wave, [one], owner=token, now=now)
            except Exception as exc:
                failure(log, "handler failed", exc, delivery_id=one[0].id)
                failed[one[0]] = "storing its changes: " + traceback.format_exc(limit=0).strip()
            else:
                committed |= held
                any_planned |= planned
        return committed, failed, any_planned

    def _commit_wave(
        self,
        conn: Connection,
        ready: list[tuple[Delivery, list[Write]]],
        *,
        owner: str,
        now: datetime,
    ) -> tuple[set[str], bool]:
        # Marked processed in the transaction that stores their writes, and only where the
        # claim still holds: one taken over meanwhile writes nothing (on PostgreSQL the
        # update's row locks keep it until the commit). One update of each row, not two.
        held = deliveries.finish_many(conn, [d.id for d, _ in ready], owner=owner, now=now)
        # The wave's intake effects and new clocks: inserted together at its end.
        with jobs.noted(conn) as planned:
            with outbox.gathered(conn), clocks.gathered(conn), issues.gathered(conn):
                for delivery, writes in ready:
                    if delivery.id not in held:
                        log.warning(
                            "delivery claim lost; another worker has it",
                            extra={"delivery_id": delivery.id},
                        )
                        continue
                    for write in writes:
                        write(conn)
            return held, planned()

    async def _handle(self, delivery: Delivery, now: datetime, owners: dict[str, int]) -> Outcome:
        """Run every handler the delivery matches: its errors, whether they are permanent,
        what it would store, and how long it took."""
        started = time.perf_counter()
        ctx = Context(
            delivery_id=delivery.id,
            installation_id=delivery.installation_id,
            now=now,
            db=self._db,
            policies=self._policies,
            roles=self._roles,
        )
        foreign = _foreign(delivery, owners)
        try:
            data = orjson.loads(delivery.body)  # as the receiver parsed it
            event = Event(data, event=delivery.event, delivery_id=delivery.id)
            callbacks = self._router.fetch(event)
        except (TypeError, ValueError, RecursionError) as exc:  # an `action` not a string, say
            errors, permanent = [f"malformed payload: {type(exc).__name__}: {exc}"], True
        else:
            if foreign:
                errors, permanent = [foreign], True
                log.warning(
                    "delivery parked", extra={"delivery_id": delivery.id, "reason": foreign}
                )
            else:
                errors, permanent = await self._dispatch(event, callbacks, ctx)
        return Outcome(errors, permanent, ctx.writes, time.perf_counter() - started)

    async def _failed(
        self, delivery: Delivery, token: str, now: datetime, errors: list[str], permanent: bool
    ) -> str:
        retry_at = None if permanent else backoff.DELIVERIES.next_attempt(now, delivery.attempts)
        await self._db.run(
            deliveries.fail,
            delivery.id,
            owner=token,
            error="; ".join(errors),
            retry_at=retry_at,
        )
        return "retry" if retry_at else "dead"

    def _record(self, delivery: Delivery, outcome: str, elapsed: float) -> None:
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
                failure(
                    log,
                    "handler failed",
                    exc,
                    delivery_id=ctx.delivery_id,
                    handler=callback.__qualname__,
                )
        return errors, permanent


def _foreign(delivery: Delivery, owners: dict[str, int]) -> str | None:
    """Why a delivery must not be acted on: it names an installation that does not own
    its repository (a tenant mix-up). Parked as dead, it can be replayed once explained."""
    if delivery.repo is None or delivery.installation_id is None:
        return None
    owner = owners.get(delivery.repo)
    if owner is None or owner == delivery.installation_id:
        return None
    return (
        f"parked: installation {delivery.installation_id} does not own {delivery.repo} "
        f"(installation {owner} does)"
    )


def delivery_wave(batch: list[Delivery], size: int) -> tuple[list[Delivery], list[Delivery]]:
    """The next deliveries to process together, and the rest: deliveries about different
    issues may overlap; two about one issue keep their order (opened before labeled); one
    about no issue (an installation, a repository) goes alone; urgent deliveries never share
    a wave with routine ones."""
    if batch[0].issue_number is None:
        return batch[:1], batch[1:]
    wave: list[Delivery] = []
    rest: list[Delivery] = []
    seen: set[tuple[str | None, int]] = set()
    for index, delivery in enumerate(batch):
        if delivery.issue_number is None or delivery.lane != batch[0].lane:
            rest.extend(batch[index:])  # a barrier (or routine work after urgent): it waits
            break
        where = (delivery.repo, delivery.issue_number)
        if where in seen or len(wave) >= size:
            rest.append(delivery)
        else:
            wave.append(delivery)
        seen.add(where)
    return wave, rest
