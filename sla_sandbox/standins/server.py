"""Serving an ASGI app on a free loopback port from a background thread (tests and demo)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

HOST = "127.0.0.1"


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 with an OS-assigned port, run in a daemon thread.

    The socket is bound before the thread starts, so `url` is known up front and no other
    process can take the port between choosing and binding it.
    """

    def __init__(self, app: ASGIApp, *, startup_timeout: float = 10.0) -> None:
        self._app = app
        self._startup_timeout = startup_timeout
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
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
        self._server = uvicorn.Server(config)
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
            self._server.should_exit = True
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
