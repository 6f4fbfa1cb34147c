"""Slack's v0 request signature and a size-limited body reader for POST /slack/events.

Kept small on purpose: when the shared signed-body reader (app/http/) lands, these two
functions are what switches to it.
https://docs.slack.dev/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier
from starlette.requests import Request

MAX_BODY = 1024 * 1024  # Slack's events are a few KB; a message's text is at most 40,000


class _Clock(Clock):
    """slack-sdk's clock over the app's injected clock (the 5-minute window)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock().timestamp()


def verified(secret: str, clock: Callable[[], datetime], body: bytes, headers: Any) -> bool:
    """`X-Slack-Signature` is v0=HMAC-SHA256 of `v0:{timestamp}:{body}`, and the timestamp
    is within 5 minutes of now (a replay later is refused)."""
    try:
        return SignatureVerifier(secret, clock=_Clock(clock)).is_valid_request(body, headers)
    except (ValueError, TypeError):  # a timestamp that is not a number, a non-ASCII signature
        return False


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is over `limit` (refused before it is read whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
