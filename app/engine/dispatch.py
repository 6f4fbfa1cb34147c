"""Send the outbox: each effect claimed by one worker, recorded sent only once it took."""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from app.engine import backoff, failures, leases
from app.engine.scheduler import Scheduler
from app.github import ops
from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.notify import oncall
from app.notify.pagerduty import PagerDuty
from app.notify.slack import Notifier, NotifyError
from app.phone import call_issue
from app.store import effects, outbox
from app.store.database import Database
from app.store.effects import EffectKind, Order
from app.store.outbox import Item

log = logging.getLogger(__name__)

# How far back a retried Slack alert looks for an earlier attempt that Slack accepted.
SLACK_LOOKBACK = timedelta(days=2)
# Slack's answers for a message layout it will not take; the text alone is still sent.
BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})


# What GitHub's secondary limits count as content creation. GitHub does not list the
# endpoints; every write to an issue or a repository's labels is counted, to be safe.
CONTENT_WRITES = effects.PACED
HOURLY_WRITES = 500
ALERTS = (outbox.SLACK, outbox.PAGERDUTY)
# What a process lacks when it cannot send to a target.
CREDENTIALS = {outbox.SLACK: "SLACK_BOT_TOKEN", outbox.PAGERDUTY: "PAGERDUTY_ROUTING_KEY"}


class Paced(Exception):
    """Held back by the installation's write pace: try again after `wait` (not a failure)."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(f"paced: the installation's write budget is used up for {wait}")
        self.wait = max(wait, timedelta(seconds=1))


class SteppedAside(Exception):
    """A routine write not started because production-down work arrived (given back)."""


class Retry(Exception):
    """Not now: try again after `delay` (a parent message not sent yet, no credentials)."""

    def __init__(self, message: str, delay: timedelta) -> None:
        super().__init__(message)
        self.delay = delay


class Dispatcher:
    """Sends outbox items to GitHub, Slack and PagerDuty, each by its kind's sender."""

    def __init__(
        self,
        *,
        db: Database,
        github: GitHubApp | None,
        notifier: Notifier,
        owner: str,
        time: Callable[[], datetime],
        on_result: Callable[[Item, str], None] | None = None,
        lease: timedelta = timedelta(minutes=2),
        pagerduty: PagerDuty | None = None,
        write_rate: int = 0,
        concurrency: int = 16,
        scheduler: Scheduler,
        pagerduty_timeout: float = 10.0,
        targets: frozenset[str] | None = None,
    ) -> None:
        self._concurrency = max(1, concurrency)
        # What this process has credentials for (None: all). Effects for another target are
        # never claimed here: they stay owed (pending) for a process that can send them, and
        # are never recorded sent without their target accepting them.
        self.targets = targets
        # Whether production down is pending, so routine sends step aside (the worker's too).
        self._scheduler = scheduler
        self._pagerduty = pagerduty
        self._pagerduty_timeout = pagerduty_timeout
        self._write_rate = write_rate
        self._db = db
        self._github = github
        self._notifier = notifier
        self.owner = owner
        self._time = time
        self._on_result = on_result
        self._lease = lease
        self._draining = {target: asyncio.Lock() for target in outbox.TARGETS}
        # Who sends each kind: these, then other concerns' (app/slack_threads).
        self.senders = effects.Senders()
        slack = {k: self._slack for k, s in effects.KINDS.items() if s.target == outbox.SLACK}
        pagerduty_events = (EffectKind.TRIGGER, EffectKind.ACKNOWLEDGE, EffectKind.RESOLVE)
        self.senders.add(
            {
                **{kind: self._github_effect for kind in WRITES},
                **slack,
                EffectKind.UPDATE: self._update,
                **{kind: self._pagerduty_event for kind in pagerduty_events},
                EffectKind.CALL_ISSUE: self._call_issue,
            }
        )

    def sending(self) -> tuple[str, ...]:
        """The targets this process sends to (those it has credentials for), in order."""
        return tuple(t for t in outbox.TARGETS if self.targets is None or t in self.targets)

    async def drain(self) -> int:
        """Send every ready item once; returns how many were sent. Each target (GitHub,
        Slack, PagerDuty) this process has credentials for is drained on its own, side by
        side: a target that times out or is down holds only its own sends."""
        return sum(await asyncio.gather(*(self.drain_target(t) for t in self.sending())))

    async def drain_target(self, target: str) -> int:
        """Send every ready item of `target` once; returns how many were sent. A target this
        process has no credentials for is never claimed (its effects stay owed).

        Each batch is claimed under a fresh fencing token and kept alive by a heartbeat; each
        wave of it is renewed (and so re-checked) in one statement right before it is sent,
        unless its claim or last renewal is too recent to have lapsed (`leases.Fence`), so a
        worker that lost a claim never sends. GitHub writes and top-level Slack messages about
        different issues go out together (up to `concurrency`); threaded replies, message
        edits and PagerDuty events one at a time, in order. Claims, leases and
        retry times run on the process's time, never on an evaluation time such as `sweep --now`.
        """
        sent = 0
        if target not in self.sending():
            return sent
        async with self._draining[target]:  # one drain of a target at a time per process
            while True:
                if self._scheduler.urgent_pending():
                    return sent  # woken again once the urgent delivery's effects are queued
                token = leases.token(self.owner)
                self._scheduler.target_claiming(target)  # this claim takes the urgent lane first
                fence = leases.Fence(self._time, self._lease)
                batch = await self._db.run(
                    outbox.claim_ready,
                    owner=token,
                    now=fence.claimed(),
                    lease=self._lease,
                    targets=(target,),
                )
                if not batch:
                    return sent

                async def renew(token: str = token, fence: leases.Fence = fence) -> int:
                    at = self._time()
                    held = await self._db.run(outbox.renew, owner=token, now=at, lease=self._lease)
                    fence.renewed(at)
                    return held

                paused: set[int] = set()  # installations GitHub asked us to leave alone
                async with leases.heartbeat(renew, leases.beat_interval(self._lease)):
                    await self._hold_paused(batch, token, paused)
                    sent += await self._send_batch(batch, token, fence, paused)

    def busy(self, target: str) -> bool:
        """A drain of `target` is under way in this process."""
        return self._draining[target].locked()

    async def owed(self) -> dict[str, int]:
        """Pending alerts (Slack, PagerDuty) for the targets this process cannot send to, per
        target. (GitHub writes without the App's key wait too, but a deployment may run with
        GitHub off on purpose: those are no alert.)"""
        if self.targets is None:
            return {}
        missing = set(ALERTS) - self.targets
        return await self._db.run(outbox.owed, missing)

    async def _send_batch(
        self, batch: list[Item], token: str, fence: leases.Fence, paused: set[int]
    ) -> int:
        sent, rest = 0, batch
        while rest:
            if self._scheduler.steps_aside(rest[0].target, rest[0].urgent):
                # A production-down delivery is stored and not processed yet, or its effects
                # are queued: its writes must not wait behind this routine batch. The rest is
                # given back; the next claim takes the urgent lane first.
                await self._db.run(outbox.give_back, [i.id for i in rest], owner=token)
                return sent
            wave, rest = concurrent_wave(rest, self._concurrency)
            sent += await self._send_wave(wave, token, fence, paused)
        return sent

    async def _send_wave(
        self, wave: list[Item], token: str, fence: leases.Fence, paused: set[int]
    ) -> int:
        """Send a wave of effects at once: one statement renews their claims (unless the
        claim or its renewal is too recent to have lapsed), one transaction records their
        successes; each failure is handled on its own."""
        live = [
            i for i in wave if not (i.target == outbox.GITHUB and i.installation_id in paused)
        ]  # the others were released and rescheduled with their installation's pause
        if fence.sure():
            held = {i.id for i in live}
        else:
            held = await self._db.run(
                outbox.hold_many,
                [i.id for i in live],
                owner=token,
                now=self._time(),
                lease=self._lease,
            )
        for item in live:
            if item.id not in held:
                log.warning("effect claim lost; another worker has it", extra={"key": item.key})
        todo = [i for i in live if i.id in held]
        paced = await self._paced(todo)
        go = [i for i in todo if i.id not in paced]
        answers = await asyncio.gather(*(self._attempt(i) for i in go))
        outcomes = dict(zip([i.id for i in go], answers, strict=True))
        results = {key: r for key, r in outcomes.items() if not isinstance(r, Exception)}
        recorded = await self._db.run(outbox.mark_sent_many, results, owner=token, now=self._time())
        aside = [key for key, outcome in outcomes.items() if isinstance(outcome, SteppedAside)]
        if aside:  # not tried: free for the next claim, the attempt not counted
            await self._db.run(outbox.give_back, aside, owner=token)
        for item in todo:
            outcome = paced.get(item.id) or outcomes[item.id]
            if isinstance(outcome, SteppedAside):
                continue
            if isinstance(outcome, Exception):
                await self._failed(item, token, outcome, paused)
                continue
            if item.id not in recorded:  # only a lease lapsing mid-send gets here
                log.error("effect sent after its claim lapsed", extra={"key": item.key})
            where = {"key": item.key, "repo": item.repo, "issue": item.issue_number}
            log.info("effect sent", extra=where)
            self._note(item, "sent")
        return len(results)

    async def _hold_paused(self, batch: list[Item], token: str, paused: set[int]) -> None:
        """GitHub writes decided while their installation is paused by a rate limit (by this
        process or another) wait for its end too: the pause moved only the writes waiting
        when it began. They are released and rescheduled with it, unsent, their attempt
        given back. One look at the store per batch."""
        installations = {
            i.installation_id
            for i in batch
            if i.target == outbox.GITHUB and i.installation_id is not None
        }
        if not installations:
            return
        now = self._time()
        for installation, until in (await self._db.run(outbox.pauses, installations, now)).items():
            await self._db.run(outbox.pause_github, installation, until=until, owner=token, now=now)
            paused.add(installation)

    def _steps_aside(self, item: Item) -> bool:
        """Production down came in while this wave was under way: a routine write not sent
        yet waits for the next claim, which takes the urgent lane first."""
        return self._scheduler.steps_aside(item.target, item.urgent)

    async def _attempt(self, item: Item) -> dict[str, Any] | Exception:
        if self._steps_aside(item):
            return SteppedAside()
        try:
            return await self._perform(item)
        except Exception as exc:
            return exc

    async def _paced(self, items: list[Item]) -> dict[int, Paced]:
        """Hold back content-creating GitHub writes over the installation's pace (GitHub's
        secondary limits: ~80 a minute and 500 an hour), across replicas: the store knows
        what was sent; one look per installation and wave. Routine writes wait;
        production-down ones are never held back."""
        if not self._write_rate:
            return {}
        groups: dict[int, list[Item]] = {}
        for item in items:
            if (
                item.target == outbox.GITHUB
                and item.kind in CONTENT_WRITES
                and item.installation_id is not None
                and not item.urgent
            ):
                groups.setdefault(item.installation_id, []).append(item)
        held: dict[int, Paced] = {}
        now = self._time()
        for installation, group in groups.items():
            slots = await self._db.run(
                outbox.content_writes,
                installation,
                CONTENT_WRITES,
                now - timedelta(hours=1),
                now,
                effects.write_weight,
            )
            for item in group:
                weight = effects.write_weight(item.kind, item.payload)
                # A write whose slot has come counts only what was sent (the later slots were
                # given out after it); a new one queues behind every slot given out.
                wait = pace_wait(
                    slots[: bisect.bisect_right(slots, now)] if item.slotted else slots,
                    now,
                    self._write_rate,
                    weight,
                )
                if wait is not None and item.slotted:  # still over (a replica's sends): behind
                    wait = pace_wait(slots, now, self._write_rate, weight)
                for _ in range(weight):  # its slot, now or later: the next one queues behind
                    bisect.insort(slots, now if wait is None else now + wait)
                if wait is not None:
                    held[item.id] = Paced(wait)
        return held

    async def _perform(self, item: Item) -> dict[str, Any]:
        return await self.senders(item.kind)(item)

    async def _pagerduty_event(self, item: Item) -> dict[str, Any]:
        if self._pagerduty is None:
            raise ValueError("PAGERDUTY_ROUTING_KEY is not set; set it and replay the effect")
        if item.kind != EffectKind.TRIGGER and await self._db.run(
            outbox.pending, oncall.trigger_key(item.clock_id or 0)
        ):
            # Its trigger may have reached PagerDuty with the answer lost: acknowledge
            # or resolve now, and the trigger's retry would open a new incident after
            # them (a key dedupes only while its incident is open). They follow it.
            raise Retry("its incident's trigger is not confirmed yet", timedelta(seconds=5))
        # PagerDuty deduplicates by dedup_key itself: a repeated event changes nothing. An
        # answer that does not come in time is a failure to retry (its own loop waits).
        async with asyncio.timeout(self._pagerduty_timeout):
            return await self._pagerduty.send(item.payload)

    async def _call_issue(self, item: Item) -> dict[str, Any]:
        """The escalation number's issue (app/phone/call_issue.py)."""
        if self._github is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        return await call_issue.send(self._db, self._github, item, self._time)

    async def _failed(self, item: Item, token: str, exc: Exception, paused: set[int]) -> None:
        """Reschedule (a rate limit pauses the installation's GitHub writes) or give up."""
        now, paced = self._time(), isinstance(exc, Paced)
        verdict = None if paced else failures.classify(exc, now)
        wait = exc.wait if isinstance(exc, Paced) else verdict.wait if verdict else None
        if wait is not None:
            retry_at: datetime | None = now + wait
            outcome = "paced" if paced else "rate-limited"
        else:
            retry_at = self._retry_at(item, exc, verdict, now)
            outcome = "retry" if retry_at else "dead"
        await self._db.run(
            outbox.mark_retry,
            item.id,
            owner=token,
            retry_at=retry_at,
            counted=wait is None,
            error=None if paced else _describe(exc),  # waiting its turn is not failing
        )
        limited = wait is not None and not paced  # GitHub said stop: all wait
        if limited and item.target == outbox.GITHUB and item.installation_id is not None:
            assert retry_at is not None
            paused.add(item.installation_id)
            await self._db.run(
                outbox.pause_github, item.installation_id, until=retry_at, owner=token, now=now
            )
        # Held back by our own pace is the plan working, not a warning: a backfill holds
        # back thousands of writes (each once, to its own slot).
        log.log(
            logging.DEBUG if paced else logging.WARNING,
            "effect %s",
            outcome,
            extra={
                "key": item.key,
                "error": _describe(exc),
                "attempts": item.attempts,
                "retry_at": retry_at.isoformat() if retry_at else None,
            },
        )
        self._note(item, "paced" if paced else "retry" if retry_at else "dead")

    def _note(self, item: Item, outcome: str) -> None:
        if self._on_result is not None:
            self._on_result(item, outcome)

    def _retry_at(
        self, item: Item, exc: Exception, verdict: failures.Verdict | None, now: datetime
    ) -> datetime | None:
        if isinstance(exc, Retry):
            return now + exc.delay
        if verdict is not None and verdict.kind is failures.Kind.PERMANENT:
            return None
        return backoff.OUTBOX.next_attempt(now, item.attempts)

    async def _slack(self, item: Item) -> dict[str, Any]:
        payload = item.payload
        thread_ts = None
        if payload.get("thread_of"):
            parent = await self._db.run(outbox.by_key, payload["thread_of"])
            if parent is not None and parent.status == outbox.PENDING:
                raise Retry("the thread's first message is not sent yet", timedelta(seconds=5))
            if parent is not None and parent.result:
                thread_ts = parent.result.get("ts")
        message: dict[str, Any] = {
            "channel": payload["channel"],
            "text": payload["text"],
            "blocks": payload.get("blocks"),
            "thread_ts": thread_ts,
            "key": item.key,
        }
        if item.attempts > 1:
            # An earlier attempt may have been accepted with its answer lost: Slack has no
            # idempotency key, so look for this alert's metadata in the channel first.
            found = await self._notifier.find(
                channel=payload["channel"],
                key=item.key,
                thread_ts=thread_ts,
                since=self._time() - SLACK_LOOKBACK,
            )
            if found is not None:
                return {"channel": found.channel, "ts": found.ts, "found": True}
        try:
            posted = await self._notifier.post(**message)
        except NotifyError as exc:
            if exc.error not in BLOCK_ERRORS or not message["blocks"]:
                raise
            # Slack refused the layout: the plain-text form still reaches the on-call engineer.
            log.warning("slack refused the blocks; posting plain text", extra={"key": item.key})
            posted = await self._notifier.post(**{**message, "blocks": None})
        return {"channel": posted.channel, "ts": posted.ts}

    async def _update(self, item: Item) -> dict[str, Any]:
        """Edit a message sent earlier (the page, once acknowledged or resolved)."""
        parent = await self._db.run(outbox.by_key, item.payload["update_of"])
        if parent is not None and parent.status == outbox.PENDING:
            raise Retry("the message to edit is not sent yet", timedelta(seconds=5))
        if parent is None or not parent.result or "ts" not in parent.result:
            raise ValueError(f"no sent message {item.payload['update_of']!r} to edit")
        updated = await self._notifier.update(
            channel=parent.result["channel"],
            ts=parent.result["ts"],
            text=item.payload["text"],
            blocks=item.payload.get("blocks"),
        )
        return {"channel": updated.channel, "ts": updated.ts}

    async def _intake_comment(self, item: Item) -> tuple[int, str] | None:
        """The intake comment's id and text, for a standing edit (None: nothing to edit, or
        a newer edit decided since makes this one moot)."""
        if await self._db.run(outbox.newer, item):
            return None
        key = effects.intake_comment_key(item.repo or "", item.issue_number or 0)
        intake = await self._db.run(outbox.by_key, key)
        if intake is not None and intake.status == outbox.PENDING:
            raise Retry("the intake comment is not posted yet", timedelta(seconds=5))
        if intake is None or not intake.result or not intake.result.get("id"):
            return None
        return int(intake.result["id"]), str(intake.payload["body"])

    async def _github_effect(self, item: Item) -> dict[str, Any]:
        if self._github is None:
            raise Retry("GitHub App credentials are not configured", timedelta(minutes=5))
        if item.installation_id is None or item.repo is None:
            raise ValueError("effect without installation or repository")
        kind = EffectKind(item.kind)
        posted = await self._intake_comment(item) if kind is EffectKind.STANDING else None
        if kind is EffectKind.STANDING and posted is None:
            return {"skipped": True}

        async def act(gh: GitHubClient) -> dict[str, Any]:
            if self._steps_aside(item):  # it waited for the installation's write slot
                raise SteppedAside
            return await WRITES[kind](gh, item, posted)

        return await self._github.call(item.installation_id, act, write=True)


async def _add_labels(gh: GitHubClient, item: Item, _: Posted) -> dict[str, Any]:
    await ops.add_labels(gh, item.repo or "", item.issue_number or 0, item.payload["labels"])
    return {}


async def _ensure_labels(gh: GitHubClient, item: Item, _: Posted) -> dict[str, Any]:
    specs = [tuple(spec) for spec in item.payload["labels"]]
    return {"created": await ops.ensure_labels(gh, item.repo or "", specs)}


async def _standing(gh: GitHubClient, item: Item, posted: Posted) -> dict[str, Any]:
    assert posted is not None
    await ops.edit_comment(gh, item.repo or "", posted[0], posted[1] + item.payload["section"])
    return {}


async def _remove_label(gh: GitHubClient, item: Item, _: Posted) -> dict[str, Any]:
    await ops.remove_label(gh, item.repo or "", item.issue_number or 0, item.payload["label"])
    return {}


async def _close_issue(gh: GitHubClient, item: Item, _: Posted) -> dict[str, Any]:
    await ops.close_issue(gh, item.repo or "", item.issue_number or 0, item.payload["reason"])
    return {}


async def _comment(gh: GitHubClient, item: Item, _: Posted) -> dict[str, Any]:
    repo, number, payload = item.repo or "", item.issue_number or 0, item.payload
    # A retry may follow a post that succeeded before its record: look first.
    if item.attempts > 1:
        found = await ops.find_comment(gh, repo, number, payload["marker"])
        if found is not None:
            return {"id": found}
    data = await ops.comment(gh, repo, number, payload["body"])
    return {"id": data.get("id"), "url": data.get("html_url")}


Posted = tuple[int, str] | None  # the intake comment a standing edit changes: id, text
# The GitHub writes the dispatcher sends itself, inside the installation's client.
WRITES: dict[EffectKind, Callable[[GitHubClient, Item, Posted], Awaitable[dict[str, Any]]]] = {
    EffectKind.ADD_LABELS: _add_labels,
    EffectKind.ENSURE_LABELS: _ensure_labels,
    EffectKind.STANDING: _standing,
    EffectKind.REMOVE_LABEL: _remove_label,
    EffectKind.CLOSE_ISSUE: _close_issue,
    EffectKind.COMMENT: _comment,
}


def pace_wait(sent: list[datetime], now: datetime, rate: int, weight: int = 1) -> timedelta | None:
    """How long a write of `weight` content-creating requests must wait, given when the last
    hour's were `sent` (oldest first): `rate` a minute and HOURLY_WRITES an hour at most;
    None: it may go now. A write heavier than a limit waits until the last minute (or hour)
    holds no other write. Times after `now` (slots given to writes held back) count too: the
    write queues behind them. The wait meets both limits at once (the longer of the two)."""
    waits = []
    for span, limit in ((timedelta(minutes=1), rate), (timedelta(hours=1), HOURLY_WRITES)):
        inside = [at for at in sent if at > now - span]
        over = len(inside) + min(weight, limit) - limit
        if over > 0:
            waits.append(inside[over - 1] + span - now)
    return max(waits, default=None)


def concurrent_wave(items: list[Item], size: int) -> tuple[list[Item], list[Item]]:
    """The next effects to send together, and the rest. Effects on different issues may
    overlap; two GitHub writes or two Slack posts about one issue keep their order (a comment
    before the close). A threaded reply, a message edit and PagerDuty events go alone, in
    order (the parent first). Urgent effects never share a wave with routine ones."""
    if _order_of(items[0]) is None:
        return items[:1], items[1:]
    wave: list[Item] = []
    rest: list[Item] = []
    seen: set[tuple[Any, ...]] = set()
    for index, item in enumerate(items):
        order = _order_of(item)
        if order is None or item.urgent != items[0].urgent:
            rest.extend(items[index:])  # a barrier (or routine work after urgent): it waits
            break
        if order in seen or len(wave) >= size:
            rest.append(item)  # a later effect in the same order stays behind this one
        else:
            wave.append(item)
        seen.add(order)
    return wave, rest


def _order_of(item: Item) -> tuple[Any, ...] | None:
    """What an effect must not overlap with; None: nothing (it goes alone)."""
    spec = effects.spec(item.kind)
    if spec is None or spec.order is Order.ALONE:
        return None
    if item.target == outbox.GITHUB:
        return (item.target, item.repo, item.issue_number)
    payload = item.payload
    if item.target == outbox.SLACK and not (payload.get("thread_of") or payload.get("update_of")):
        return (item.target, item.repo, item.issue_number)  # Slack answers a burst with 429
    return None


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]
