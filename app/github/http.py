"""GitHub's HTTP transport: aiohttp in `serve` (a tenth of httpx's CPU per call), or httpx.

httpx costs ~1.5 ms of CPU per GitHub call on this stack against ~0.15 ms for aiohttp
(bench/profiles/README.md), and a delivery makes two (label, comment). httpx stays for
callers that hand in an `httpx.AsyncClient` (tests that mock GitHub with respx, which only
sees httpx). aiohttp's errors are raised as httpx's, so retry and give-up rules stay one.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import httpx

Answer = tuple[int, Mapping[str, str], bytes]


class Session:
    """One aiohttp session for all GitHub calls, opened on first use inside the running
    event loop (the services are built outside it) and closed with the services."""

    def __init__(self, *, timeout: float = 15.0, connect: float = 5.0, limit: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                skip_auto_headers=("User-Agent",),  # gidgethub sends its own
            )
        return self._session

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        try:
            async with self._open().request(
                method, url, headers=dict(headers), data=body or None, allow_redirects=False
            ) as response:
                return response.status, response.headers, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:  # nothing was sent: safe to try again
            raise httpx.ConnectTimeout(str(exc), request=_as_httpx(method, url)) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=_as_httpx(method, url)) from exc
        except TimeoutError as exc:  # asyncio's is the builtin since 3.11
            raise httpx.ReadTimeout(
                f"no answer from {url}", request=_as_httpx(method, url)
            ) from exc
        except aiohttp.ClientError as exc:  # sent, answer lost: only safe calls are repeated
            raise httpx.ReadError(
                f"{type(exc).__name__}: {exc}", request=_as_httpx(method, url)
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _as_httpx(method: str, url: str) -> httpx.Request:
    """The request an error names (where GitHub could not be reached), as httpx's own do."""
    return httpx.Request(method, url)


async def send(
    http: Session | httpx.AsyncClient,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Answer:
    if isinstance(http, Session):
        return await http.request(method, url, headers, body)
    response = await http.request(method, url, headers=dict(headers), content=body)
    return response.status_code, response.headers, response.content
