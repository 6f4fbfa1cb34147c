"""Who counts as a responder when the webhook's `author_association` does not say so.

GitHub reports `CONTRIBUTOR` or `NONE` for an organisation member whose membership is private
(rust-lang/triagebot#2094, actions/github-script#643): their answers would never count. For
such a commenter sla-bot asks GitHub once for their role on the repository and caches it.
https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from cachetools import TTLCache
from gidgethub import BadRequest

from app.github.app import GitHubApp
from app.github.client import GitHubClient

log = logging.getLogger(__name__)


class Roles:
    """A commenter's role on a repository (`role_name`: admin, maintain, write, triage, read,
    none), asked once per hour per repository and login (metadata: read, which every App
    has)."""

    def __init__(self, github: GitHubApp, time: Callable[[], datetime], ttl: float = 3600):
        self._github = github
        self._cache: TTLCache[tuple[str, str], str] = TTLCache(
            maxsize=8192, ttl=ttl, timer=lambda: time().timestamp()
        )

    async def role(self, installation_id: int, repo: str, login: str) -> str:
        key = (repo.lower(), login.lower())
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._github.call(installation_id, lambda gh: _ask(gh, repo, login))
            self._cache[key] = cached
        return cached


async def _ask(gh: GitHubClient, repo: str, login: str) -> str:
    owner, _, name = repo.partition("/")
    try:
        data = await gh.getitem(
            "/repos/{owner}/{name}/collaborators/{login}/permission",
            url_vars={"owner": owner, "name": name, "login": login},
        )
    except BadRequest as exc:
        if exc.status_code == 404:  # not a collaborator at all
            return "none"
        raise
    return str(data.get("role_name") or data.get("permission") or "none")
