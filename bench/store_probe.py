"""What storing one delivery costs, as written and as it could be (evidence for a finding).

Not one of the five benchmarks: `ingest` runs it when its throughput goal is missed, to
show how much of the receiver's time is the store write and what a leaner write would
cost. Each variant stores the same real-shaped `issues.opened` body, single-threaded:

- as written: `app.store.deliveries.record` in `Database.tx` (a SAVEPOINT per insert so
  a redelivery's IntegrityError can be caught, a new `insert().values(...)` each time);
- prepared: one module-level INSERT ... ON CONFLICT DO NOTHING, executed with parameters;
- prepared, 20 per transaction: the same, committed in groups (a "group commit");
- raw driver: the same INSERT through the DB-API connection, for the floor.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import servers
from bench.deliveries import Templates
from bench.results import fmt, table


def _params(delivery_id: str, body: str, now: datetime) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "event": "issues",
        "action": "opened",
        "installation_id": 2311213,
        "repo": "acme/support",
        "issue_number": 1000,
        "body": body,
        "received_at": now,
        "status": "pending",
        "next_attempt_at": now,
        "last_error": None,
    }


def _cpu_per(n: int, step: Callable[[int], None]) -> float:
    for i in range(min(50, n)):
        step(-1 - i)  # warm-up rows
    began = time.process_time()
    for i in range(n):
        step(i)
    return (time.process_time() - began) / n * 1e6


def measure(backend: str, workdir: Path, n: int = 2000) -> dict[str, float]:
    """CPU µs per stored delivery for each variant on `backend`."""
    from sqlalchemy.dialects import postgresql, sqlite

    from app.store import deliveries, make_engine, migrate
    from app.store.database import Database
    from app.store.tables import deliveries as table_

    body = json.dumps(json.loads(Templates().body("issues", 1000)))
    now = datetime.now(UTC)
    out = {}
    with servers.database(backend, workdir) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            db = Database(engine)
            dialect = postgresql if backend == "postgresql" else sqlite
            prepared = dialect.insert(table_).on_conflict_do_nothing(index_elements=["id"])
            tag = uuid.uuid4().hex[:6]

            def as_written(i: int) -> None:
                p = _params(f"a-{tag}-{i}", body, now)
                db.tx(
                    deliveries.record,
                    delivery_id=p.pop("id"),
                    event=p["event"],
                    action=p["action"],
                    installation_id=p["installation_id"],
                    repo=p["repo"],
                    issue_number=p["issue_number"],
                    body=body,
                    now=now,
                )

            def one_prepared(i: int) -> None:
                with engine.begin() as conn:
                    conn.execute(prepared, _params(f"b-{tag}-{i}", body, now))

            batch: list[dict[str, Any]] = []

            def grouped(i: int) -> None:
                batch.append(_params(f"c-{tag}-{i}", body, now))
                if len(batch) == 20:
                    with engine.begin() as conn:
                        conn.execute(prepared, batch)
                    batch.clear()

            out["as written (deliveries.record)"] = _cpu_per(n, as_written)
            out["prepared INSERT ... ON CONFLICT DO NOTHING"] = _cpu_per(n, one_prepared)
            out["prepared, 20 per transaction"] = _cpu_per(n, grouped)
            out["raw driver, one per transaction"] = _raw(engine, body, n)
        finally:
            engine.dispose()
    return out


def _raw(engine: Any, body: str, n: int) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        mark = "%s" if engine.dialect.name == "postgresql" else "?"
        sql = (
            "INSERT INTO deliveries (id, event, action, installation_id, repo, issue_number, "
            "body, received_at, status, next_attempt_at, attempts) VALUES "
            f"({', '.join([mark] * 10)}, 0) ON CONFLICT DO NOTHING"
        )
        tag = uuid.uuid4().hex[:6]
        now = datetime.now(UTC).replace(tzinfo=None)

        def step(i: int) -> None:
            cursor.execute(
                sql,
                (
                    f"d-{tag}-{i}",
                    "issues",
                    "opened",
                    2311213,
                    "acme/support",
                    1000,
                    body,
                    now,
                    "pending",
                    now,
                ),
            )
            raw.commit()

        return _cpu_per(n, step)
    finally:
        raw.close()


def report(workdir: Path, n: int = 2000) -> str:
    """The variants side by side as a markdown table."""
    columns = {backend: measure(backend, workdir, n) for backend in servers.backends()}
    names = list(next(iter(columns.values())))
    rows = [(name, *(f"{fmt(columns[b][name])} µs" for b in columns)) for name in names]
    return table(rows, ("storing one delivery (CPU per delivery)", *columns))
