"""A loopback HTTP/1.1 load generator on raw asyncio sockets: closed loop and fixed rate.

Requests are pre-rendered bytes handed out by a `Source`, so the generator's cost per
request is one write and one parse of the status line and Content-Length. Each connection
is kept alive and carries one request at a time (no pipelining, as GitHub sends them).

- `closed_loop`: `connections` workers send back to back for `seconds`: the throughput.
- `fixed_rate`: requests leave at `rate` per second whatever the answers do (open loop);
  latency counts from the scheduled send time, so a stalled server is not hidden by the
  generator waiting for it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
Source = Callable[[int], bytes]  # request number -> the request's bytes


class ProtocolError(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends bytes and waits for one whole answer."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._transport: asyncio.WriteTransport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionResetError("connection closed"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else None])
        if b"\r\ntransfer-encoding:" in head:
            self._fail(ProtocolError("chunked answers are not expected"))
            return
        if len(buffer) < end + 4 + length:
            return
        del buffer[: end + 4 + length]
        try:
            status = int(head[9:12])
        except ValueError:
            self._fail(ProtocolError(f"bad status line {head[:40]!r}"))
            return
        if not self._waiter.done():
            self._waiter.set_result(status)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def request(self, data: bytes) -> int:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, HOST, port)
    return protocol


@dataclass
class LoadResult:
    """What one load run saw: answers by status, latencies of the 2xx ones, wall time."""

    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, accepted answers only
    errors: int = 0
    sent: int = 0

    def note(self, status: int, latency: float, accepted: frozenset[int]) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in accepted:
            self.latencies.append(latency)

    @property
    def accepted(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


async def closed_loop(
    port: int,
    source: Source,
    *,
    seconds: float,
    connections: int = 32,
    accepted: frozenset[int] = frozenset({202}),
    first: int = 0,
    max_requests: int | None = None,
) -> LoadResult:
    """As many requests as the server answers in `seconds` (or `max_requests`, if sooner)."""
    result = LoadResult()
    counter = iter(range(first, 1 << 62))
    limit = first + max_requests if max_requests is not None else None
    pool = [await _connect(port) for _ in range(connections)]
    deadline = time.perf_counter() + seconds

    async def worker(conn: _Connection) -> None:
        while time.perf_counter() < deadline:
            n = next(counter)
            if limit is not None and n >= limit:
                return
            data = source(n)
            started = time.perf_counter()
            try:
                status = await conn.request(data)
            except (OSError, ProtocolError):
                result.errors += 1
                return
            result.sent += 1
            result.note(status, time.perf_counter() - started, accepted)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker(conn) for conn in pool))
    finally:
        result.seconds = time.perf_counter() - began
        for conn in pool:
            conn.close()
    return result


async def fixed_rate(
    port: int,
    source: Source,
    *,
    rate: float,
    count: int,
    connections: int = 64,
    accepted: frozenset[int] = frozenset({202}),
    first: int = 0,
    on_sent: Callable[[int, float], None] | None = None,
) -> LoadResult:
    """`count` requests at `rate` per second; latency from each request's scheduled time.

    `on_sent(n, scheduled)` is called as request `n` leaves (perf_counter seconds), for
    benchmarks that time what happens after the answer (end to end).
    """
    result = LoadResult()
    pool = [await _connect(port) for _ in range(connections)]
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for conn in pool:
        idle.put_nowait(conn)
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int, scheduled: float) -> None:
        conn = await idle.get()
        data = source(n)
        if on_sent is not None:
            on_sent(n, scheduled)
        try:
            status = await conn.request(data)
        except (OSError, ProtocolError):
            result.errors += 1
            return
        idle.put_nowait(conn)
        result.sent += 1
        result.note(status, time.perf_counter() - scheduled, accepted)

    began = time.perf_counter()
    for i in range(count):
        scheduled = began + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(first + i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        result.seconds = time.perf_counter() - began
        for conn in pool:
            conn.close()
    return result


def run(coro_factory: Callable[[], Coroutine[Any, Any, LoadResult]]) -> LoadResult:
    """Run a load coroutine on uvloop when it is installed (as uvicorn does)."""
    from app.engine.process import run_loop

    return run_loop(coro_factory())
