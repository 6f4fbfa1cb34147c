"""The App's GitHub side: JWT, installation tokens, one client per call, paced writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from cachetools import LRUCache
from gidgethub import BadRequest

from app.github.auth import TokenCache, make_jwt
from app.github.client import GitHubClient, Observer
from app.github.http import Session

T = TypeVar("T")


class GitHubApp:
    """Everything sla-bot does on GitHub goes through here."""

    def __init__(
        self,
        *,
        app_id: str,
        private_key: str,
        base_url: str,
        http: Session,
        time: Callable[[], datetime],
        observe: Observer | None = None,
        write_concurrency: int = 1,
    ) -> None:
        # GitHub asks for serial writes per installation (secondary rate limits); unpaced
        # deployments (benchmarks, a stand-in GitHub) may overlap a few.
        self._write_concurrency = max(1, write_concurrency)
        self._app_id = app_id
        self._private_key = private_key
        self.base_url = base_url
        self._http = http
        self._observe = observe
        self._time = time
        # ETags per URL: a 304 on a repeated GET costs no rate limit.
        self._etags: LRUCache[str, Any] = LRUCache(maxsize=4096)
        self.tokens = TokenCache(self._fetch_token, time)
        self._write_slots: dict[int, asyncio.Semaphore] = {}

    def _client(self, token: str | None = None, cache: Any = None) -> GitHubClient:
        return GitHubClient(
            self._http,
            base_url=self.base_url,
            oauth_token=token,
            cache=self._etags if cache is None else cache,
            observe=self._observe,
        )

    def app_jwt(self) -> str:
        return make_jwt(self._app_id, self._private_key, self._time().timestamp())

    async def _fetch_token(self, installation_id: int) -> tuple[str, datetime]:
        data = await self._client().post(
            "/app/installations/{installation_id}/access_tokens",
            url_vars={"installation_id": str(installation_id)},
            data=b"",
            jwt=self.app_jwt(),
        )
        expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
        return data["token"], expires

    async def as_app(self) -> GitHubClient:
        """A client that authenticates as the App itself (JWT); for /app endpoints."""
        return _JWTClient(self._client(), self.app_jwt())

    async def identity(self) -> dict[str, Any]:
        """`GET /app`: the App the key signs for; GitHub answers 401 to a key not the App's."""
        data: dict[str, Any] = await (await self.as_app()).getitem("/app")
        return data

    async def installation_of(self, repo: str) -> int:
        """The id of the installation that covers `repo` (App JWT)."""
        account, _, name = repo.partition("/")
        data = await (await self.as_app()).getitem(
            "/repos/{owner}/{name}/installation", url_vars={"owner": account, "name": name}
        )
        return int(data["id"])

    async def call(
        self,
        installation_id: int,
        action: Callable[[GitHubClient], Awaitable[T]],
        *,
        write: bool = False,
        cache: Any = None,
    ) -> T:
        """Run `action` with an installation client; a refused token is refreshed once.

        `cache` replaces the in-memory ETag cache for this call (e.g. one loaded from the store).
        """
        for attempt in (1, 2):
            client = self._client(await self.tokens.get(installation_id), cache)
            try:
                if not write:
                    return await action(client)
                slots = self._write_slots.get(installation_id)
                if slots is None:
                    slots = asyncio.Semaphore(self._write_concurrency)
                    self._write_slots[installation_id] = slots
                async with slots:
                    return await action(client)
            except BadRequest as exc:
                if exc.status_code != 401 or attempt == 2:
                    raise
                self.tokens.forget(installation_id)
        raise AssertionError("unreachable")


class _JWTClient(GitHubClient):
    """A client that sends the App JWT on every call."""

    def __init__(self, base: GitHubClient, token: str) -> None:
        self.__dict__.update(base.__dict__)
        self._jwt = token

    async def _make_request(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("jwt") is None:
            kwargs["jwt"] = self._jwt
        kwargs.pop("oauth_token", None)
        return await super()._make_request(*args, **kwargs)
