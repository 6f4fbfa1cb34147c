"""The one HTTP stack for GitHub and PagerDuty: aiohttp (slack-sdk's own library), one
session per service, opened on first use inside the running event loop (the services are
built outside it) and closed with the services."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

Answer = tuple[int, Mapping[str, str], bytes]


class Session:
    """A lazily opened aiohttp session with its timeouts and connection limit."""

    def __init__(self, *, timeout: float = 15.0, connect: float = 5.0, limit: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(connect, timeout))
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # aiohttp adds its own user agent only where a request has none: gidgethub's is
            # kept without `skip_auto_headers`, which copied every request's headers.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._limit)
            )
        return self._session

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        """One request, its answer read whole; aiohttp's errors are the caller's to judge."""
        async with self.session().request(
            method, url, headers=dict(headers), data=body or None, allow_redirects=False
        ) as response:
            return response.status, response.headers, await response.read()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
