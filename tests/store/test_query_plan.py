"""The sweep's cost: 'which running clocks are due by now' is one range scan of an index."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, select

from app.store import clocks as clock_rows
from app.store import make_engine, migrate
from app.store.tables import clocks


def test_the_due_query_is_an_index_range_scan_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    query = (
        select(clocks)
        .where(clocks.c.state == "running", clocks.c.due_at <= datetime.now(UTC))
        .order_by(clocks.c.due_at)
    )
    compiled = query.compile(engine)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(str(v) for v in compiled.params.values())
        ).fetchall()
    engine.dispose()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_clocks_due (state=? AND due_at<?)" in details
    assert "TEMP B-TREE" not in details  # no sort: the index gives due order


def _plan_of(engine: Engine, run: Callable[[Connection], object]) -> str:
    """SQLite's plan for the statement the store function `run` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        run(conn)
    event.remove(engine, "before_cursor_execute", capture)
    (statement, params), *_ = seen
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
    return " ".join(str(row[-1]) for row in rows)


def test_the_sweep_reads_pages_to_escalate_by_index(tmp_path: Path) -> None:
    """The escalation check grows with the pages owed an escalation, not with open issues."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    try:
        plan = _plan_of(engine, lambda conn: clock_rows.to_escalate(conn, datetime.now(UTC)))
    finally:
        engine.dispose()
    assert "USING INDEX ix_clocks_escalate (escalate_at<?)" in plan
    assert "TEMP B-TREE" not in plan
