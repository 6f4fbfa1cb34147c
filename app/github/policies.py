"""Per-repository policy: the repo's .github/sla.yml over the org's .github repository file,
over SLA_POLICY_FILE, over the built-ins, merged key by key. When GitHub cannot be asked, the
last policy read, else the deployment's, so that a page never waits on GitHub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import aiohttp
from cachetools import LRUCache, TTLCache
from gidgethub import BadRequest, HTTPException

from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.ops import read_file
from app.logs import failure
from app.sla.policy import Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)
POLICY_PATH = ".github/sla.yml"

# Told once per broken file content: (where, the problems, the file's text).
BrokenReport = Callable[[str, str, str], Awaitable[None]]


# A repository's policy version in the store (None: not tracked).
Versions = Callable[[str], Awaitable[int | None]]
# Told each time a repository's policy is read: (installation, repository, its policy).
OnRead = Callable[[int | None, str, Policy], Awaitable[None]]


# GitHub could not be asked: a refused key (401), a 5xx, a rate limit, no connection.
UNREADABLE = (HTTPException, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class Read:
    """A repository's policy, or when GitHub could not be asked (`error`), the best one at
    hand: the policy last read from it (`own`), else the deployment's (`used` names it)."""

    policy: Policy
    error: BaseException | None = None
    own: bool = True
    used: str = ""

    @property
    def note(self) -> str | None:
        """One line for the people paged: the policy they are paged by may not be the
        repository's."""
        if self.error is None:
            return None
        return f"The policy could not be read from GitHub ({_why(self.error)}): using {self.used}."


def _why(exc: BaseException) -> str:
    if isinstance(exc, BadRequest) and exc.status_code == 401:
        return "GitHub refused the App's key, 401: check GITHUB_APP_ID and GITHUB_PRIVATE_KEY"
    if isinstance(exc, HTTPException):
        return f"GitHub answered {int(exc.status_code)}"
    return "GitHub unreachable"


@dataclass
class _Entry:
    policy: Policy
    version: int | None  # the repository's policy version when it was read
    loaded: float
    checked: float


class PolicyLoader:
    """Policies cached per repository (GitHub reads use ETags too).

    A push that changes a policy file bumps the repository's version in the store (its
    account's repositories', for the org-wide file); every replica compares versions at most
    every `check` seconds and reads the policy again only when it moved, or after `keep`
    seconds in case a push was lost. A repository the store does not track (no version) is
    read again every `ttl` seconds. So a change applies within `check` seconds everywhere,
    and an unchanged policy costs no GitHub call (a missing file's 404 cannot be made
    conditional).

    A file that does not parse never moves a team onto another team's hours: its last good
    version is used (merged over the current level below), else the level below, and the
    admins are told once (`on_broken`) with the file, line and key of every problem.
    """

    def __init__(
        self,
        github: GitHubApp | None,
        fallback: Policy,
        time: Callable[[], datetime],
        ttl: float = 600,
        on_broken: BrokenReport | None = None,
        versions: Versions | None = None,
        check: float = 30,
        keep: float = 86_400,
        fallback_name: str = "the built-in policy",
        on_read: OnRead | None = None,
    ) -> None:
        self._github = github
        self._on_read = on_read
        self.fallback = fallback
        self._fallback_name = fallback_name
        self._on_broken = on_broken
        self._versions = versions
        self._ttl, self._check, self._keep = ttl, check, keep
        self._time = time
        # Keyed by installation too: a delivery naming the wrong installation for a repository
        # must not leave its failed read (and so the fallback) cached for the right one.
        self._cache: LRUCache[tuple[int | None, str], _Entry] = LRUCache(maxsize=4096)
        self._orgs: TTLCache[tuple[int | None, str], Policy] = TTLCache(
            maxsize=1024, ttl=ttl, timer=self._timer
        )
        self._last_good: LRUCache[str, str] = LRUCache(maxsize=4096)  # where -> file text
        self._looking: LRUCache[tuple[int | None, str], asyncio.Lock] = LRUCache(maxsize=4096)
        # GitHub's last refusal per repository, kept `check` seconds: a burst of deliveries
        # while the key is wrong or GitHub is down asks once, not once each.
        self._unread: TTLCache[tuple[int | None, str], BaseException] = TTLCache(
            maxsize=4096, ttl=check, timer=self._timer
        )

    def _timer(self) -> float:
        return self._time().timestamp()

    async def get(self, installation_id: int | None, repo: str) -> Policy:
        key = (installation_id, repo)
        entry = self._cache.get(key)
        if entry is not None and self._timer() - entry.checked < self._check:
            return entry.policy
        # One look at a time per repository: a window of 32 deliveries about a repository
        # whose policy is not cached makes one read, not 32 (its callers wait for it).
        lock = self._looking.get(key)
        if lock is None:
            lock = self._looking[key] = asyncio.Lock()
        async with lock:
            return await self._look(key)

    async def read(self, installation_id: int | None, repo: str) -> Read:
        """`get`, never failing for GitHub's sake: when it cannot be asked, the policy last
        read for the repository, else the deployment's, with why (`Read.error`)."""
        key = (installation_id, repo)
        error = self._unread.get(key)
        if error is None:
            try:
                return Read(await self.get(installation_id, repo))
            except UNREADABLE as exc:
                error = self._unread[key] = exc
                failure(log, "policy not read", exc, repo=repo)
        entry = self._cache.get(key)
        if entry is not None:
            return Read(entry.policy, error, own=True, used="the policy last read from it")
        return Read(self.fallback, error, own=False, used=self._fallback_name)

    async def _look(self, key: tuple[int | None, str]) -> Policy:
        (installation_id, repo), now = key, self._timer()
        entry = self._cache.get(key)
        if entry is not None and now - entry.checked < self._check:
            return entry.policy  # looked at while this caller waited its turn
        version = await self._versions(repo) if self._versions is not None else None
        if entry is not None:
            lasts = self._keep if version is not None else self._ttl
            if version == entry.version and now - entry.loaded < lasts:
                entry.checked = now
                return entry.policy
            if version != entry.version:  # a push changed it, here or at the org level
                self._orgs.pop((installation_id, repo.partition("/")[0]), None)
        policy = await self._load(installation_id, repo)
        self._cache[key] = _Entry(policy, version, now, now)
        if self._on_read is not None:
            await self._on_read(installation_id, repo, policy)
        return policy

    def forget(self, repo: str | None = None) -> None:
        """Drop cached policies (one repo's, or all) after a change to a policy file."""
        if repo is None or repo.endswith("/.github"):
            self._cache.clear()  # an org file: every repository of that account builds on it
            self._orgs.clear()
            return
        for key in [key for key in self._cache if key[1] == repo]:
            self._cache.pop(key, None)

    async def _load(self, installation_id: int | None, repo: str) -> Policy:
        if self._github is None or installation_id is None:
            return self.fallback
        account = repo.partition("/")[0]
        org = self._orgs.get((installation_id, account))
        if org is None:
            org = await self._level(installation_id, f"{account}/.github", self.fallback)
            self._orgs[(installation_id, account)] = org
        if repo.lower() == f"{account}/.github".lower():
            return org
        return await self._level(installation_id, repo, org)

    async def _level(self, installation_id: int, repo: str, base: Policy) -> Policy:
        """`repo`'s policy file merged over `base`; `base` when it has none."""
        assert self._github is not None
        text = await self._github.call(installation_id, partial(_read_policy, repo=repo))
        if text is None:
            return base
        where = f"{repo}:{POLICY_PATH}"
        try:
            policy = parse_policy(text, source=where, base=base)
        except PolicyError as exc:
            return await self._broken(where, str(exc), text, base)
        self._last_good[where] = text
        return policy

    async def _broken(self, where: str, problems: str, text: str, base: Policy) -> Policy:
        good = self._last_good.get(where)
        using = "its last good version" if good is not None else "the level below"
        # A broken file must not stop the SLA, nor silently change it: keep what worked.
        log.warning(
            "policy file invalid, using %s", using, extra={"source": where, "problems": problems}
        )
        if self._on_broken is not None:
            await self._on_broken(where, problems, text)
        if good is not None:
            try:
                return parse_policy(good, source=where, base=base)
            except PolicyError:
                pass  # good over the old base, not over this one
        return base


async def _read_policy(gh: GitHubClient, *, repo: str) -> str | None:
    return await read_file(gh, repo, POLICY_PATH)
