"""GitHub App auth: the App JWT (RS256) and installation tokens cached until near expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.config import ConfigError

# Refresh this long before GitHub's `expires_at` so a token never dies mid-request.
TOKEN_MARGIN = timedelta(minutes=5)


def make_jwt(app_id: str, private_key: str, now: float) -> str:
    """An App JWT: issued 60 s in the past against clock drift, valid for 9 minutes.

    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
    """
    try:
        return jwt.encode(
            {"iat": int(now) - 60, "exp": int(now) + 540, "iss": app_id},
            _signing_key(private_key),
            algorithm="RS256",
        )
    except (ValueError, TypeError, jwt.exceptions.PyJWTError) as exc:
        # The library's message can quote key material; name the variable instead.
        raise ConfigError(
            f"GITHUB_PRIVATE_KEY: the key could not sign an RS256 JWT ({type(exc).__name__})"
        ) from None


@lru_cache(maxsize=4)
def _signing_key(private_key: str) -> Any:
    """The key parsed once (checking an RSA key costs about 40 ms of CPU, every JWT); a key
    that is not an RSA key in PEM goes to PyJWT as it is, to fail there as before."""
    try:
        key = load_pem_private_key(str(private_key).encode(), password=None)
    except (ValueError, TypeError):
        return private_key
    return key if isinstance(key, RSAPrivateKey) else private_key


Fetch = Callable[[int], Awaitable[tuple[str, datetime]]]


class TokenCache:
    """Installation tokens, one fetch at a time per installation, reused until near expiry."""

    def __init__(self, fetch: Fetch, time: Callable[[], datetime], maxsize: int = 1024):
        self._fetch = fetch
        self._time = time
        self._cache: TLRUCache[int, tuple[str, datetime]] = TLRUCache(
            maxsize=maxsize, ttu=self._expiry, timer=self._timer
        )
        self._locks: dict[int, asyncio.Lock] = {}

    def _timer(self) -> float:
        return self._time().timestamp()

    @staticmethod
    def _expiry(_key: int, value: tuple[str, datetime], now: float) -> float:
        return (value[1] - TOKEN_MARGIN).timestamp()

    async def get(self, installation_id: int) -> str:
        cached = self._cache.get(installation_id)
        if cached is not None:
            return cached[0]
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(installation_id)
            if cached is None:
                cached = await self._fetch(installation_id)
                self._cache[installation_id] = cached
            return cached[0]

    def forget(self, installation_id: int) -> None:
        """Drop a token GitHub refused (401) so the next call fetches a fresh one."""
        self._cache.pop(installation_id, None)
