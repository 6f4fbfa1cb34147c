"""Which deliveries are production down, decided once at the receiver from the policy's
`page` setting and kept as their lane (app/engine/scheduler.py schedules by it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic
from typing import Any

from app.logs import failure
from app.sla.domain import Priority
from app.sla.issue import issue_from
from app.sla.policy import Policy
from app.sla.triage import decide
from app.store.queue import ROUTINE_LANE, URGENT_LANE

log = logging.getLogger(__name__)
Key = tuple[int | None, str]
Look = Callable[[int | None, str], Awaitable[Policy]]  # (installation, repo) -> its policy
TrackedBy = Callable[[str], Awaitable[int | None]]  # repo -> the installation tracking it


class Urgency:
    """Which deliveries are production down: the policy's `page` setting for the issue's
    priority (its priority labels; a new issue's form answers), read by the policy last read
    for its repository, else the deployment's. Decided once, at the receiver, kept as the lane.

    The receiver never waits for a policy: `look(installation, repo)` (the PolicyLoader's
    `read`) runs beside it for a repository not read yet, or read more than `fresh` seconds
    ago, and the deliveries after it go by what it found (a worker in another process reads
    policies for itself, so the receiver's process must ask too).

    The tenant check comes first: `tracked_by(repo)` names the installation tracking a
    repository (learned once; asked again while it is not tracked, or when a delivery names
    another installation and the answer is older than `fresh`). A delivery naming another
    installation for a tracked repository goes by the fallback and reads nothing with that
    installation's token (the worker parks it)."""

    def __init__(
        self,
        fallback: Policy,
        look: Look | None = None,
        *,
        tracked_by: TrackedBy | None = None,
        fresh: float = 30.0,
        monotonic: Callable[[], float] = monotonic,
    ) -> None:
        if look is not None and tracked_by is None:
            raise TypeError("Urgency: a look needs tracked_by, the tenant check before it")
        self._fallback = Paging(fallback)
        self._read: dict[Key, tuple[Paging, float]] = {}
        self._tracking: dict[str, tuple[int, float]] = {}  # repo -> (installation, learned)
        self._look, self._tracked_by = look, tracked_by
        self._fresh, self._monotonic = fresh, monotonic
        self._looking: dict[Key, asyncio.Task[None]] = {}

    async def policy_read(self, installation_id: int | None, repo: str, policy: Policy) -> None:
        """The PolicyLoader read `repo`'s policy (its `on_read`): its labels count from now."""
        self._read[(installation_id, repo)] = (Paging(policy), self._monotonic())

    def _paging(self, key: Key) -> Paging:
        tracked = self._tracking.get(key[1])
        if tracked is not None and tracked[0] != key[0]:  # another installation's delivery
            if self._stale(tracked[1]):
                self._ask(key)  # moved to that installation since? Asked, nothing read yet
            return self._fallback
        found = self._read.get(key)
        if found is None or self._stale(found[1]):
            self._ask(key)
        return self._fallback if found is None else found[0]

    def _stale(self, at: float) -> bool:
        return self._monotonic() - at > self._fresh

    def _ask(self, key: Key) -> None:
        """Look for `key`'s policy beside the receiver, once at a time per key."""
        look, tracked_by = self._look, self._tracked_by
        if look is None or tracked_by is None or not key[1] or key in self._looking:
            return
        with contextlib.suppress(RuntimeError):  # no event loop: nobody to look
            reading = self._read_policy(key, look, tracked_by)
            self._looking[key] = asyncio.get_running_loop().create_task(reading)

    async def _read_policy(self, key: Key, look: Look, tracked_by: TrackedBy) -> None:
        try:
            if await self._tracker(key, tracked_by) in (None, key[0]):  # untracked, or its own
                await self.policy_read(*key, await look(*key))
        except Exception as exc:  # the receiver goes on by the policy at hand
            failure(log, "policy not read for the receiver", exc, repo=key[1])
        finally:
            self._looking.pop(key, None)

    async def _tracker(self, key: Key, tracked_by: TrackedBy) -> int | None:
        """The installation tracking `key`'s repository, None while it is not tracked."""
        installation, repo = key
        known = self._tracking.get(repo)
        if known is not None and (known[0] == installation or not self._stale(known[1])):
            return known[0]
        found = await tracked_by(repo)
        if found is None:
            self._tracking.pop(repo, None)
        else:
            self._tracking[repo] = (found, self._monotonic())
        return found

    def lane(self, event: str, payload: Mapping[str, Any]) -> int:
        issue = payload.get("issue")
        if event != "issues" or not isinstance(issue, Mapping) or "pull_request" in issue:
            return ROUTINE_LANE  # no SLA: nothing to hurry, no policy to read
        installation = payload.get("installation")
        repo = payload.get("repository")
        key = (
            installation.get("id") if isinstance(installation, Mapping) else None,
            str(repo.get("full_name")) if isinstance(repo, Mapping) else "",
        )
        paging = self._paging(key)
        try:
            pages = paging.pages(payload)
        except (ValueError, TypeError, KeyError, AttributeError):
            pages = False  # a payload the processor will refuse, and say why: no hurry
        return URGENT_LANE if pages else ROUTINE_LANE


class Paging:
    """One policy's answer to "does this issue page?", read off a delivery's payload: this
    runs for every delivery the receiver stores, so the policy's labels are looked up once."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._labels = {spec.label.casefold(): p for p, spec in policy.priorities.items()}
        paging = {priority for priority, spec in policy.priorities.items() if spec.page}
        # The classifier reads Production down from a form only where its words are
        # (app/sla/classifier/classify.py): a form without them can choose no other page.
        self._down_words_only = (
            paging <= {Priority.PRODUCTION_DOWN} and policy.default_priority not in paging
        )

    def pages(self, payload: Mapping[str, Any]) -> bool:
        """The issue's priority pages: by its priority labels (the highest counts), else,
        when just opened, by its form; or the label just added or removed is a paging
        priority's (a production-down issue relabeled)."""
        issue = payload.get("issue")
        if not isinstance(issue, Mapping):
            return False
        label = payload.get("label")
        named = self._priority(label.get("name")) if isinstance(label, Mapping) else None
        if named is not None and self.policy.priorities[named].page:
            return True
        labeled = [
            found
            for item in issue.get("labels") or ()
            if isinstance(item, Mapping) and (found := self._priority(item.get("name")))
        ]
        if labeled:
            return self.policy.priorities[max(labeled, key=lambda p: p.rank)].page
        if payload.get("action") != "opened" or not self._form_may_page(issue.get("body")):
            return False
        return self.policy.priorities[decide(issue_from(payload), self.policy).priority].page

    def _priority(self, name: object) -> Priority | None:
        return self._labels.get(name.casefold()) if isinstance(name, str) else None

    def _form_may_page(self, body: object) -> bool:
        if not self._down_words_only:
            return True
        text = body.lower() if isinstance(body, str) else ""
        return "down" in text and _DOWN_WORDS.search(text) is not None


_DOWN_WORDS = re.compile(r"production[\s_-]*down")
