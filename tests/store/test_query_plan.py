"""The sweep's cost: 'which running clocks are due by now' is one range scan of an index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

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
