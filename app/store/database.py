"""Run store work in a transaction on a worker thread, so the event loop never blocks on I/O."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class _Dropped(Exception):
    """The connection was found dead before the commit: nothing was committed."""


class Database:
    """The engine plus one way to use it: a function of a connection, in one transaction.

    SQLite takes one writer at a time and makes the others sleep in its busy handler (1, 2,
    5 ... ms a try): a process's transactions there run one after another on one thread
    instead, and a caller on another thread (`tx`) waits its turn on a lock, woken at once.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        serial = engine.dialect.name == "sqlite"
        self._turn: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if serial else contextlib.nullcontext()
        )
        # PostgreSQL takes transactions side by side, but each thread competes with the event
        # loop for the GIL: more threads raised the receiver's p99 for no more throughput
        # (bench/RESULTS.md, "Measured by hand"); two keep both.
        self._executor = ThreadPoolExecutor(1 if serial else 2, "store")
        # PostgreSQL: the receiver's commits on threads of their own, so a 202 waits for its
        # own transaction, never behind the worker's queue; two at once, so that a batch is
        # stored while the one before waits for its WAL flush (a third added nothing:
        # bench/RESULTS.md, "Measured by hand"). On SQLite they share the one thread: a
        # second one only makes the two hand the lock and the GIL to each other.
        self.receiver_threads = 1 if serial else 2
        self._receiving = (
            self._executor
            if serial
            else ThreadPoolExecutor(self.receiver_threads, "store-receiver")
        )

    def tx(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return self._call(fn, args, kwargs)

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        call = functools.partial(contextvars.copy_context().run, self._call, fn, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def run_receiving(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run` ahead of the work queued by `run` (the receiver's commits)."""
        call = functools.partial(contextvars.copy_context().run, self._call, fn, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._receiving, call)

    def _call(self, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        """`fn` in one transaction; once more on a fresh connection when the first one turns
        out dead before the commit (a database restart or failover drops every pooled
        connection: SQLAlchemy then invalidates the pool, and nothing was committed, so
        running the transaction again is safe). A connection lost during the commit itself
        is not retried: the commit may have taken. No pre-ping instead: a round trip on
        every checkout costs more than this rare retry (bench/RESULTS.md, "Measured by hand")."""
        with self._turn:
            try:
                return self._once(fn, args, kwargs, retry=True)
            except _Dropped as dropped:
                log.warning("store connection lost (%s); retrying on a fresh one", dropped)
                return self._once(fn, args, kwargs, retry=False)

    def _once(self, fn: Callable[..., T], args: Any, kwargs: Any, *, retry: bool) -> T:
        with self.engine.connect() as conn:
            ran = False
            try:
                with conn.begin():
                    result = fn(conn, *args, **kwargs)
                    ran = True  # what fails from here on failed in the commit
            except DBAPIError as exc:
                if ran or not retry or not exc.connection_invalidated:
                    raise
                raise _Dropped(type(exc.orig).__name__) from exc
        return result

    def close(self) -> None:
        """Stop the store's threads (work already queued still runs); the engine stays open."""
        for executor in {self._executor, self._receiving}:
            executor.shutdown(wait=False)
