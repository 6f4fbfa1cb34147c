"""Reading a body nobody has authenticated yet: the one reader behind every signed endpoint.

Each endpoint (GitHub deliveries, Slack clicks, PagerDuty webhooks) verifies an HMAC over
the raw body, so the body must be read before anything is known about the sender. The
reader keeps that cheap: a declared size over the limit is refused before a byte is read,
the MAC is computed while reading, a body beyond `in_memory` is spooled to disk until its
signature checks out, a body that stalls (or trickles slower than `min_rate`) is dropped,
and each endpoint reads at most `in_flight` bodies at once (Busy beyond: a flood of slow
or forged bodies at one endpoint costs the others nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from starlette.requests import ClientDisconnect, Request

__all__ = ["Busy", "ClientDisconnect", "Forged", "Gate", "Limits", "Stalled", "TooLarge", "read"]


class TooLarge(Exception):
    """Over the endpoint's limit (declared or read): 413."""


class Stalled(Exception):
    """No data for `stall` seconds, or the body came slower than `min_rate`: 408."""


class Busy(Exception):
    """The endpoint already reads `in_flight` bodies: 503 at once, nothing read."""


class Forged(Exception):
    """Read whole, and its signature does not match: 401 (a spooled one never reached memory)."""


@dataclass(frozen=True)
class Limits:
    """One endpoint's bounds. A whole body may take `stall` seconds plus its size (declared,
    else `most`) at `min_rate` bytes a second: a client trickling a byte every few seconds
    is dropped as one that sends nothing."""

    most: int
    in_memory: int
    stall: float
    in_flight: int
    min_rate: int = 32 * 1024


class Gate:
    """The bodies one endpoint is reading (a count on the event loop), at most `limit`."""

    def __init__(self) -> None:
        self.reading = 0

    @contextlib.contextmanager
    def slot(self, limit: int) -> Iterator[None]:
        if self.reading >= limit:
            raise Busy
        self.reading += 1
        try:
            yield
        finally:
            self.reading -= 1


@dataclass
class Gates:
    """One gate per signed endpoint: a flood at one leaves the others their slots."""

    github: Gate = field(default_factory=Gate)
    slack: Gate = field(default_factory=Gate)
    pagerduty: Gate = field(default_factory=Gate)
    twilio: Gate = field(default_factory=Gate)


def declared_size(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() and len(value) < 20 else None


async def read(
    request: Request,
    mac: hmac.HMAC,
    signed: Callable[[str], bool],
    limits: Limits,
    gate: Gate | None = None,
) -> bytes:
    """The raw body once `signed(hex digest of mac over it)` says it is genuine (`mac` is
    updated with every byte as it arrives). Raises TooLarge, Stalled, Busy, Forged or
    ClientDisconnect (the client left mid-body: nobody to answer)."""
    declared = declared_size(request)
    if declared is not None and declared > limits.most:
        raise TooLarge
    with gate.slot(limits.in_flight) if gate is not None else contextlib.nullcontext():
        return await _read(request, mac, signed, limits, declared)


async def _read(
    request: Request,
    mac: hmac.HMAC,
    signed: Callable[[str], bool],
    limits: Limits,
    declared: int | None,
) -> bytes:
    loop = asyncio.get_running_loop()
    end = loop.time() + limits.stall + (declared or limits.most) / limits.min_rate
    size, chunks = 0, list[bytes]()
    with contextlib.ExitStack() as stack:
        spool: IO[bytes] | None = None
        try:
            async with asyncio.timeout(min(end, loop.time() + limits.stall)) as deadline:
                more = True
                while more:  # the ASGI messages themselves: Request.stream() costs more
                    message = await request.receive()
                    if message["type"] == "http.disconnect":
                        raise ClientDisconnect
                    chunk, more = message.get("body", b""), message.get("more_body", False)
                    if more:  # the body goes on: the next part has `stall` seconds too
                        deadline.reschedule(min(end, loop.time() + limits.stall))
                    size += len(chunk)
                    if size > limits.most:
                        raise TooLarge
                    mac.update(chunk)
                    if spool is None and size > limits.in_memory:
                        spool = stack.enter_context(tempfile.TemporaryFile())
                        spool.writelines(chunks)
                        chunks.clear()
                    if spool is None:
                        chunks.append(chunk)
                    else:
                        spool.write(chunk)
        except TimeoutError:
            raise Stalled from None
        if not signed(mac.hexdigest()):
            raise Forged
        if spool is None:
            return b"".join(chunks)
        spool.seek(0)
        return spool.read()
