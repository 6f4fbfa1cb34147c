"""Per-repository policy: .github/sla.yml, else the org's .github repo, else the fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from cachetools import TTLCache

from app.github.app import GitHubApp
from app.github.client import GitHubClient
from app.github.ops import read_file
from app.sla.policy import Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)
POLICY_PATH = ".github/sla.yml"


class PolicyLoader:
    """Policies cached per repository for `ttl` seconds (GitHub reads use ETags too)."""

    def __init__(
        self,
        github: GitHubApp | None,
        fallback: Policy,
        clock: Callable[[], datetime],
        ttl: float = 600,
    ) -> None:
        self._github = github
        self.fallback = fallback
        self._cache: TTLCache[str, Policy] = TTLCache(
            maxsize=4096, ttl=ttl, timer=lambda: clock().timestamp()
        )

    async def get(self, installation_id: int | None, repo: str) -> Policy:
        cached = self._cache.get(repo)
        if cached is None:
            cached = await self._load(installation_id, repo)
            self._cache[repo] = cached
        return cached

    def forget(self, repo: str | None = None) -> None:
        """Drop cached policies (one repo's, or all) after a change to a policy file."""
        if repo is None:
            self._cache.clear()
        else:
            self._cache.pop(repo, None)

    async def _load(self, installation_id: int | None, repo: str) -> Policy:
        if self._github is None or installation_id is None:
            return self.fallback
        owner = repo.partition("/")[0]
        for source in (repo, f"{owner}/.github"):
            text = await self._github.call(installation_id, partial(_read_policy, repo=source))
            if text is None:
                continue
            try:
                return parse_policy(text, source=f"{source}:{POLICY_PATH}", base=self.fallback)
            except PolicyError as exc:
                # A broken file must not stop the SLA: fall back, and say where it is broken.
                log.warning(
                    "policy file invalid, using fallback",
                    extra={"repo": repo, "problems": str(exc)},
                )
                return self.fallback
        return self.fallback


async def _read_policy(gh: GitHubClient, *, repo: str) -> str | None:
    return await read_file(gh, repo, POLICY_PATH)
