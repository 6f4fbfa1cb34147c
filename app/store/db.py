"""Engine creation and migrations: SQLite by default, PostgreSQL for several replicas."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here, the driver sla-bot ships with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine with per-backend settings; SQLite gets WAL and a busy timeout."""
    url = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        # No pre-ping: it costs a round trip per checkout (a fifth of the worker's time in the
        # benchmarks); stale connections are recycled instead, and a transaction that finds its
        # connection dead before the commit (a restart) runs once more (Database._call).
        kwargs.update(pool_recycle=300, pool_size=5, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        _psycopg_caches_group_inserts()
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _psycopg_caches_group_inserts() -> None:
    """Let psycopg remember how it parsed our group inserts.

    psycopg parses each query's %(name)s placeholders and caches the result only for queries
    up to 4 KB and 50 parameters (psycopg discussion #628: one-off giant queries filled its
    cache). Our group inserts are longer (a batch of deliveries or a window's effects: 13
    parameters a row) but come in few shapes, one per batch size, and were parsed again on
    every commit: 15% of the receiver's CPU at full load (266 -> 225 us a delivery, ingest
    3,220 -> 3,700/s with the worker paused). The cache stays an LRU of 128 queries; shapes
    past these limits (a flood's 500-row batch) are still parsed each time.
    """
    from psycopg import _queries

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 64 * 1024)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 1000)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the sweep read while the receiver writes; NORMAL survives a process crash
    # (https://www.sqlite.org/wal.html#performance_considerations). A power loss may lose the
    # last commits, which the missed-delivery pass recovers from GitHub.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several replicas."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together take turns; the lock ends with the transaction.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74201)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(
    url: str,
    wait: float = 0.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Engine:
    """An engine on a migrated store; waits up to `wait` seconds for a database that is not
    up yet (a container starting beside it), one log line per attempt, then gives up with
    the database's own error."""
    engine = make_engine(url)
    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    deadline, delay, attempt = monotonic() + wait, 1.0, 0
    while True:
        attempt += 1
        try:
            migrate(engine)
            return engine
        except OperationalError as exc:
            if monotonic() + delay > deadline:
                engine.dispose()
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            log.warning("store %s not reachable (attempt %d): %s; retrying in %.0f s",
                        shown, attempt, reason, delay)  # fmt: skip
            sleep(delay)
            delay = min(delay * 2, 10.0)


def schema_ready(engine: Engine) -> bool:
    """True when the store answers and has its tables (readiness probe)."""
    with engine.connect() as connection:
        return inspect(connection).has_table("clocks")
