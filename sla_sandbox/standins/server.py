"""Serving an ASGI app on a free loopback port from a background thread (tests and demo)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

HOST = "127.0.0.1"
SETTLE = 0.005  # how often a stopping server looks whether its connections have closed
GRACE = 0.1  # what uvicorn gives the app's work in hand before shutting its lifespan down


class _Server(uvicorn.Server):
    """uvicorn's server, stopping as soon as it is told: uvicorn's own looks whether to stop
    every 0.1 s and whether its connections have closed every 0.1 s, which a test pays twice
    (its app and its stand-in) for every server it starts."""

    _loop: asyncio.AbstractEventLoop | None = None
    _told: asyncio.Event | None = None

    def tell_to_exit(self) -> None:
        """From any thread: stop serving now, not at the next tick."""
        self.should_exit = True
        loop, told = self._loop, self._told
        if loop is not None and told is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(told.set)

    async def main_loop(self) -> None:
        self._loop, self._told = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._told.wait(), 0.1)  # uvicorn's tick

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """As uvicorn's: close the listening sockets, ask each connection to close, pause, wait
        up to the graceful timeout for them and their tasks, then the app's lifespan shutdown;
        only looking every few milliseconds instead of every 0.1 s."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        # uvicorn's own pause, kept: work the app still has in hand (a worker's transaction
        # in a thread) ends before its lifespan closes the store under it.
        await asyncio.sleep(GRACE)
        state, loop = self.server_state, asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while (state.connections or state.tasks) and not self.force_exit:
            if loop.time() > deadline:
                for task in state.tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                break
            await asyncio.sleep(SETTLE)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 with an OS-assigned port, run in a daemon thread.

    The socket is bound before the thread starts, so `url` is known up front and no other
    process can take the port between choosing and binding it.
    """

    def __init__(self, app: ASGIApp, *, startup_timeout: float = 10.0) -> None:
        self._app = app
        self._startup_timeout = startup_timeout
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. `http://127.0.0.1:54321`."""
        if self._port is None:
            raise RuntimeError("LoopbackServer is not started; call start() first")
        return f"http://{HOST}:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LoopbackServer:
        """Start serving and return once the server accepts connections; idempotent."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Without TCP_NODELAY every reused keep-alive connection stalls ~40 ms (Nagle plus
        # delayed ACK); asyncio sets it only on sockets it creates itself.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((HOST, 0))
        self._sock, self._port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the host process's logging configuration alone
            log_level="warning",
            access_log=False,
            ws="none",  # no websockets needed; importing them can emit DeprecationWarnings
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"loopback-server-{self._port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()
        return self

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("loopback server failed to start; see the uvicorn log")
            time.sleep(0.005)

    def stop(self) -> None:
        """Shut down gracefully and wait for the thread; safe to call twice."""
        if self._server is not None:
            self._server.tell_to_exit()
        stuck = self._thread is not None and not join(self._thread, self._startup_timeout)
        if stuck and self._server is not None and self._thread is not None:
            self._server.force_exit = True
            join(self._thread, self._startup_timeout)
        if self._sock is not None:
            self._sock.close()  # uvicorn closes it on a clean shutdown; this covers the rest
        self._server, self._thread, self._sock = None, None, None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def join(thread: threading.Thread, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `thread` to end; True when it did.

    Polls instead of `Thread.join(timeout)`: a timed lock wait can sleep for a year under
    libfaketime (its deadline is on the faked wall clock), and the suite runs under it in CI.
    """
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    return not thread.is_alive()
