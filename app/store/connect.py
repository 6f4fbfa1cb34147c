"""Engine creation and migrations: SQLite by default, PostgreSQL for several replicas."""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.engine import tuning
from app.engine.backoff import Backoff

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# PostgreSQL's answer for a database that was never created (the connection error carries no
# SQLSTATE in psycopg, only the server's message): not an outage to wait out.
_NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')


def store_waits(wait: float) -> Backoff:
    """Waiting for a store that is starting: 1 s, 2 s, 4 s, 8 s, then every 10 s, enough waits
    (each at least a second) to fill `wait` seconds."""
    return Backoff.exponential(
        timedelta(seconds=1), cap=timedelta(seconds=10), attempts=math.floor(wait) + 2
    )


class StoreMissing(Exception):
    """The store DATABASE_URL names does not exist; only `serve` creates one. The message
    names it and what to do, never a password."""


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
        # No pre-ping: it costs a round trip per checkout (bench/RESULTS.md, "Measured by
        # hand"); stale connections are recycled instead, and a transaction that finds its
        # connection dead before the commit (a restart) runs once more (Database._call).
        kwargs.update(pool_recycle=300, pool_size=5, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        tuning.psycopg_group_inserts()
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the sweep read while the receiver writes; NORMAL survives a process crash
    # (https://www.sqlite.org/wal.html#performance_considerations). A power loss may lose the
    # last commits, which the missed-delivery pass recovers from GitHub.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A statement journal (an INSERT ... ON CONFLICT of many rows), a sort the indexes do not
    # give: in memory, not a temporary file created and deleted each time (a file a group
    # commit: bench/RESULTS.md, section 19).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


@functools.cache
def _head() -> str | None:
    """The newest revision of the migrations shipped (reading them once a process)."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several replicas."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together take turns; the lock ends with the transaction.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(74201)")
        # A store already at the newest revision needs no migration environment (loading it
        # reads every migration again: most of the cost of opening a store).
        if MigrationContext.configure(connection).get_current_revision() == _head():
            return
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_engine(
    url: str,
    wait: float = 0.0,
    *,
    create: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Engine:
    """An engine on a migrated store; waits up to `wait` seconds for a database that is not
    up yet (a container starting beside it), one log line per attempt, then gives up with
    the database's own error. `create=False` (every command but `serve`): a SQLite file that
    is not there is StoreMissing, never a new empty store; a PostgreSQL database that does
    not exist is StoreMissing at once, whatever `create` says (sla-bot creates tables, not
    databases)."""
    if not create:
        must_exist(url)
    engine = make_engine(url)
    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    waits, deadline, attempt = store_waits(wait), monotonic() + wait, 0
    while True:
        attempt += 1
        try:
            migrate(engine)
            return engine
        except OperationalError as exc:
            missing = _NO_DATABASE.search(str(exc.orig or ""))
            if missing is not None:
                engine.dispose()
                raise StoreMissing(_createdb(url, missing.group(1))) from exc
            delay = waits.delay(attempt)
            if delay is None or monotonic() + delay.total_seconds() > deadline:
                engine.dispose()
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            log.warning(
                "store %s not reachable (attempt %d): %s; retrying in %.0f s",
                shown,
                attempt,
                reason,
                delay.total_seconds(),
            )
            sleep(delay.total_seconds())


def must_exist(url: str) -> None:
    """StoreMissing unless the SQLite file `url` names is there (other stores: checked when
    connecting)."""
    parsed = make_url(url)
    path = parsed.database
    on_disk = parsed.drivername.startswith("sqlite") and path not in (None, "", ":memory:")
    if on_disk and not Path(str(path)).exists():
        raise StoreMissing(
            f"DATABASE_URL: no store at {path} (run where `sla-bot serve` keeps it, or set "
            "DATABASE_URL; only `serve` creates a store)"
        )


def _createdb(url: str, name: str) -> str:
    parsed = make_url(url)
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    options = [("-h", parsed.host), ("-p", parsed.port), ("-U", parsed.username)]
    command = " ".join(["createdb", *(f"{flag} {value}" for flag, value in options if value), name])
    return (
        f"DATABASE_URL: PostgreSQL database {name!r} does not exist on {server}; create it "
        f"(`{command}`), then start `sla-bot serve`, which creates the tables"
    )


def schema_ready(engine: Engine) -> bool:
    """True when the store answers and has its tables (readiness probe)."""
    with engine.connect() as connection:
        return inspect(connection).has_table("clocks")
