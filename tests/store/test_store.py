"""Store behaviour the app relies on, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError

from app.store import clocks, deliveries, jobs, make_engine, migrate, outbox, queue, tables
from app.store.connect import MIGRATIONS
from app.store.database import Database
from app.store.effects import EffectKind

T0 = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
LEASE = timedelta(minutes=1)


def record(conn: Connection, delivery_id: str, now: datetime = T0) -> bool:
    return deliveries.record(
        conn,
        delivery_id=delivery_id,
        event="issues",
        action="opened",
        installation_id=1,
        repo="acme/support",
        issue_number=7,
        body="{}",
        now=now,
    )


def start(conn: Connection, number: int = 7, due: datetime = T0 + timedelta(hours=1)) -> int:
    return clocks.start(
        conn,
        installation_id=1,
        repo="acme/support",
        issue_number=number,
        kind="response",
        priority="urgent",
        request_type="problem",
        started_at=T0,
        due_at=due,
    )


def _schema(engine: Engine) -> tuple[str | None, dict[str, list[str]]]:
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        found = inspect(conn)
        names = found.get_table_names()
        tables = {t: sorted(c["name"] for c in found.get_columns(t)) for t in names}
    return revision, tables


def test_migrations_are_idempotent(database_url: str) -> None:
    """A restarted replica migrates again: same revision, same schema, nothing lost."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        first = _schema(engine)
        Database(engine).tx(record, "kept")
        migrate(engine)
        assert _schema(engine) == first
        assert first[0] == ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert {"deliveries", "clocks", "outbox", "repositories", "http_cache"} <= set(first[1])
        kept = Database(engine).tx(deliveries.get, "kept")
        assert kept is not None and kept.status == "pending"
    finally:
        engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_a_delivery_is_stored_once(db: Database) -> None:
    assert db.tx(record, "d1") is True
    assert db.tx(record, "d1") is False
    stored = db.tx(deliveries.get, "d1")
    assert stored is not None and stored.status == "pending"


def claim_deliveries(db: Database, owner: str, now: datetime) -> list[str]:
    return [d.id for d in db.tx(deliveries.claim_ready, owner=owner, now=now, lease=LEASE)]


def claim_effects(db: Database, owner: str, now: datetime) -> list[outbox.Item]:
    return db.tx(outbox.claim_ready, owner=owner, now=now, lease=LEASE)


def test_a_delivery_is_claimed_by_one_worker_until_its_lease_ends(db: Database) -> None:
    db.tx(record, "d1")
    assert claim_deliveries(db, "a", T0) == ["d1"]
    assert claim_deliveries(db, "b", T0) == []
    later = T0 + LEASE + timedelta(seconds=1)  # worker a died: its lease ran out
    assert claim_deliveries(db, "b", later) == ["d1"]


def test_a_batch_claim_gives_each_delivery_to_one_worker(db: Database) -> None:
    for n in range(5):
        db.tx(record, f"d{n}", T0 + timedelta(seconds=n))
    first = claim_deliveries(db, "a", T0 + timedelta(minutes=1))
    assert first == [f"d{n}" for n in range(5)]  # oldest first
    db.tx(record, "d9", T0 + timedelta(minutes=1))
    assert claim_deliveries(db, "b", T0 + timedelta(minutes=1)) == ["d9"]


def test_a_wave_is_finished_only_where_its_claim_still_holds(db: Database) -> None:
    for n in range(3):
        db.tx(record, f"d{n}")
    assert claim_deliveries(db, "a", T0) == ["d0", "d1", "d2"]
    later = T0 + LEASE + timedelta(seconds=1)  # a's lease lapsed; b took d0 and d1 over
    db.tx(lambda c: deliveries.give_back(c, ["d2"], owner="a"))
    assert claim_deliveries(db, "b", later)[:2] == ["d0", "d1"]
    finished = db.tx(deliveries.finish_many, ["d0", "d1", "d2"], owner="a", now=later)
    assert finished == set()  # none held by a any more: its writes must not be stored
    assert db.tx(deliveries.finish_many, ["d0", "d2"], owner="b", now=later) == {"d0", "d2"}
    stored = [db.tx(deliveries.get, i) for i in ("d0", "d1")]
    assert [d and d.status for d in stored] == [deliveries.DONE, deliveries.PENDING]


def test_a_claim_reads_the_backlog_off_the_index_without_sorting_it(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL picks its plan from statistics (it takes the index there too).
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    with engine.begin() as conn:
        for n in range(3):
            record(conn, f"d{n}")
    event.listen(engine, "before_cursor_execute", capture)
    with engine.begin() as conn:
        deliveries.claim_ready(conn, owner="w", now=T0, lease=LEASE)
    event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        plans = [
            " ".join(str(row) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in statements
        ]
    engine.dispose()
    tenants, firsts = plans[-2:]  # who has work in each lane, then each one's oldest
    assert "ix_deliveries_fair (status=?)" in tenants, tenants
    assert "ix_deliveries_fair (status=? AND lane=? AND installation_id=?)" in firsts, firsts
    assert "GROUP BY" not in tenants  # grouped in index order (only the few groups sorted)
    assert len(plans) == 2  # both lanes in those two statements
    assert "TEMP B-TREE" not in firsts  # each one's oldest in index order


def test_failed_deliveries_are_retried_then_dead_then_replayable(db: Database) -> None:
    db.tx(record, "d1")
    claim_deliveries(db, "a", T0)
    db.tx(deliveries.fail, "d1", owner="a", error="boom", retry_at=T0 + timedelta(minutes=5))
    assert claim_deliveries(db, "a", T0 + timedelta(minutes=1)) == []
    assert claim_deliveries(db, "a", T0 + timedelta(minutes=5)) == ["d1"]
    db.tx(deliveries.fail, "d1", owner="a", error="still boom", retry_at=None)
    dead = db.tx(deliveries.failed)
    assert [(d.id, d.status, d.last_error) for d in dead] == [("d1", "dead", "still boom")]
    assert db.tx(deliveries.replay, "d1") is True
    # Due at once for any worker, even one whose clock is behind the last retry time.
    assert claim_deliveries(db, "b", T0) == ["d1"]


def test_due_clocks_are_the_running_ones_past_due(db: Database) -> None:
    early = db.tx(start, 1, T0 + timedelta(minutes=10))
    db.tx(start, 2, T0 + timedelta(hours=5))
    met = db.tx(start, 3, T0 + timedelta(minutes=5))
    db.tx(clocks.transition, met, ["running"], "met", met_at=T0)
    due = db.tx(clocks.due, T0 + timedelta(hours=1))
    assert [c.id for c in due] == [early]


def test_one_live_clock_per_issue(db: Database) -> None:
    db.tx(start, 7)
    with pytest.raises(IntegrityError):
        db.tx(start, 7)


def test_a_transition_has_one_winner(db: Database) -> None:
    clock_id = db.tx(start)
    assert db.tx(clocks.transition, clock_id, ["running"], "breached", breached_at=T0) is True
    assert db.tx(clocks.transition, clock_id, ["running"], "breached", breached_at=T0) is False


def test_times_come_back_aware_and_equal(db: Database) -> None:
    clock_id = db.tx(start)
    clock = db.tx(clocks.get, clock_id)
    assert clock is not None and clock.started_at == T0 and clock.started_at.tzinfo is not None


def test_an_effect_is_enqueued_once_and_sent_by_the_lease_holder(db: Database) -> None:
    args = {"key": "k1", "payload": {"a": 1}, "now": T0}
    assert db.tx(outbox.enqueue, EffectKind.BREACH, **args) is True
    assert db.tx(outbox.enqueue, EffectKind.BREACH, **args) is False
    (item,) = claim_effects(db, "a", T0)
    assert item.payload == {"a": 1}
    assert claim_effects(db, "b", T0) == []
    assert db.tx(outbox.mark_sent, item.id, owner="b", now=T0, result={}) is False
    assert db.tx(outbox.mark_sent, item.id, owner="a", now=T0, result={"ts": "1"}) is True
    assert claim_effects(db, "b", T0 + timedelta(hours=1)) == []


def test_a_wave_of_sends_is_recorded_each_with_its_own_result(db: Database) -> None:
    for n in range(3):
        db.tx(outbox.enqueue, EffectKind.COMMENT, key=f"k{n}", payload={}, now=T0)
    mine = claim_effects(db, "a", T0)
    db.tx(outbox.enqueue, EffectKind.COMMENT, key="k3", payload={}, now=T0)
    theirs = claim_effects(db, "b", T0)  # another worker's
    results = {item.id: {"id": 100 + n} for n, item in enumerate(mine)}
    results[theirs[0].id] = {"id": 999}  # not this worker's to record
    assert db.tx(outbox.mark_sent_many, results, owner="a", now=T0) == {i.id for i in mine}
    for n, item in enumerate(mine):
        stored = db.tx(outbox.get, item.id)
        assert stored is not None and stored.status == outbox.SENT
        assert stored.result == {"id": 100 + n}
    other = db.tx(outbox.get, theirs[0].id)
    assert other is not None and other.status == outbox.PENDING and other.result is None
    assert db.tx(outbox.mark_sent_many, results, owner="a", now=T0) == set()  # once only


def test_a_failed_effect_waits_for_its_retry_time(db: Database) -> None:
    db.tx(outbox.enqueue, EffectKind.BREACH, key="k", payload={}, now=T0)
    (item,) = claim_effects(db, "a", T0)
    db.tx(outbox.mark_retry, item.id, owner="a", error="500", retry_at=T0 + timedelta(seconds=30))
    assert claim_effects(db, "a", T0 + timedelta(seconds=10)) == []
    assert [i.id for i in claim_effects(db, "a", T0 + timedelta(seconds=30))] == [item.id]


def test_a_database_that_starts_late_is_waited_for(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    from app.store import connect as store_connect

    real, failures = store_connect.migrate, [2]

    def late(engine: Engine) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("connect", {}, Exception("connection refused"))
        real(engine)

    monkeypatch.setattr(store_connect, "migrate", late)
    slept: list[float] = []
    engine = store_connect.open_engine(f"sqlite:///{tmp_path / 's.db'}", 60, sleep=slept.append)
    engine.dispose()
    assert slept == [1.0, 2.0]
    lines = [r.getMessage() for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(lines) == 2 and "(attempt 1): connection refused; retrying in 1 s" in lines[0]


def test_a_database_is_waited_for_1_2_4_8_then_every_10_seconds_until_the_wait_is_over(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from app.store import connect as store_connect

    def down(engine: Engine) -> None:
        raise OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(store_connect, "migrate", down)
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(OperationalError):
        store_connect.open_engine(url, 30, sleep=sleep, monotonic=lambda: now[0])
    assert slept == [1.0, 2.0, 4.0, 8.0, 10.0]  # another 10 s would end after the 30 s


def test_a_database_that_never_comes_gives_up_with_its_error() -> None:
    from sqlalchemy.exc import OperationalError

    from app.store.connect import open_engine

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    url = "postgresql://postgres:hunter2@127.0.0.1:9/none"  # nothing listens on port 9
    with pytest.raises(OperationalError):
        open_engine(url, 5, sleep=sleep, monotonic=lambda: now[0])
    assert now[0] <= 5


def _to(engine: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_a_paused_clock_is_still_the_issues_one_live_clock(db: Database) -> None:
    clock_id = db.tx(start, 7)
    assert db.tx(clocks.transition, clock_id, ["running"], "paused", paused_at=T0)
    with pytest.raises(IntegrityError):
        db.tx(start, 7)
    live = db.tx(clocks.live, "acme/support", 7)
    assert live is not None and (live.state, live.paused_at) == ("paused", T0)
    assert db.tx(clocks.due, T0 + timedelta(days=1)) == []  # a paused clock never comes due


def test_migration_0007_keeps_the_clocks_and_can_be_undone(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        _to(engine, "0006")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO clocks (repo, issue_number, kind, priority, request_type, state,"
                    " started_at, due_at) VALUES ('acme/support', 7, 'response', 'urgent',"
                    " 'problem', 'running', '2026-11-27 15:30:00', '2026-11-27 16:30:00')"
                )
            )
        migrate(engine)
        (kept,) = Database(engine).tx(clocks.open_clocks)
        assert (kept.state, kept.paused_seconds, kept.paused_at, kept.started_by) == (
            "running",
            0,
            None,
            None,
        )
        Database(engine).tx(clocks.transition, kept.id, ["running"], "paused", paused_at=T0)
        _to(engine, "0006", down=True)
        with engine.connect() as conn:
            state = conn.execute(text("SELECT state FROM clocks")).scalar()
        assert state == "running"  # no state the older code does not know
        migrate(engine)
    finally:
        engine.dispose()


def _outbox_row(key: str, kind: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "key": key,
        "target": "github",
        "kind": kind,
        "installation_id": 1,
        "repo": "acme/support",
        "payload": "{}",
        "status": status,
        "attempts": 2,
        "next_attempt_at": T0,
        "created_at": T0,
        **more,
    }


def test_migration_0017_moves_reconciles_and_redeliveries_to_jobs_under_their_keys(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    rows = [
        _outbox_row("install:acme/support:d1:reconcile", "reconcile", "pending", attempts=1),
        _outbox_row("periodic:reconcile:acme/support:9", "reconcile", "sent", sent_at=T0),
        _outbox_row("redeliver:g-1", "redeliver", "dead", last_error="GitHubBroken: 502"),
        _outbox_row("intake:comment:acme/support#7", "comment", "pending"),
    ]
    try:
        _to(engine, "0016")
        with engine.begin() as conn:
            for row in rows:  # one by one: an executemany takes the first row's columns
                conn.execute(tables.outbox.insert().values(**row))
        migrate(engine)
        db = Database(engine)
        moved = {key: db.tx(jobs.by_key, key) for key in (r["key"] for r in rows[:3])}
        assert {k: (j.kind, j.status) for k, j in moved.items() if j} == {
            "install:acme/support:d1:reconcile": ("reconcile", "pending"),
            "periodic:reconcile:acme/support:9": ("reconcile", "done"),
            "redeliver:g-1": ("redeliver", "dead"),
        }
        assert moved["redeliver:g-1"].last_error == "GitHubBroken: 502"  # type: ignore[union-attr]
        with engine.connect() as conn:
            left = conn.execute(select(tables.outbox.c.key)).scalars().all()
        assert left == ["intake:comment:acme/support#7"]  # effects stay effects
        # Planned again after the upgrade: once per key, as before it.
        assert not db.tx(
            jobs.reconcile, 1, "acme/support", key="periodic:reconcile:acme/support:9", now=T0
        )
        (claimed,) = db.tx(
            jobs.claim_ready, owner="w", now=T0, lease=LEASE, kinds=["reconcile", "redeliver"]
        )
        assert (claimed.key, claimed.attempts) == ("install:acme/support:d1:reconcile", 2)
        _to(engine, "0016", down=True)
        with engine.connect() as conn:
            back = conn.execute(select(tables.outbox.c.key, tables.outbox.c.status)).all()
        assert sorted(back) == sorted(
            [
                ("intake:comment:acme/support#7", "pending"),
                ("install:acme/support:d1:reconcile", "pending"),
                ("periodic:reconcile:acme/support:9", "sent"),
                ("redeliver:g-1", "dead"),
            ]
        )
    finally:
        engine.dispose()


def test_pages_to_escalate_are_found_until_dealt_with(db: Database) -> None:
    page = db.tx(
        lambda c: clocks.start(
            c,
            installation_id=1,
            repo="acme/support",
            issue_number=1,
            kind="response",
            priority="production-down",
            request_type="problem",
            started_at=T0,
            due_at=T0 + timedelta(minutes=30),
            escalate_at=T0 + timedelta(minutes=15),
        )
    )
    db.tx(start, 2)  # an urgent clock: never a page to escalate
    assert db.tx(clocks.to_escalate, T0 + timedelta(minutes=14)) == []
    assert [c.id for c in db.tx(clocks.to_escalate, T0 + timedelta(minutes=15))] == [page]
    db.tx(clocks.escalated, page)
    assert db.tx(clocks.to_escalate, T0 + timedelta(hours=1)) == []


def test_a_clock_begun_is_the_clock_stored(db: Database) -> None:
    amsterdam = timezone(timedelta(hours=1))
    begun = db.tx(
        lambda c: clocks.begin(
            c,
            installation_id=1,
            repo="acme/support",
            issue_number=3,
            kind="response",
            priority="urgent",
            request_type="problem",
            started_at=T0.astimezone(amsterdam),
            due_at=T0 + timedelta(hours=1),
            warn_at=None,
            issue_title="Down",
            issue_url="u",
            issue_author="wile-e",
            started_by="opened by wile-e",
        )
    )
    assert begun == db.tx(clocks.get, begun.id)


def test_a_first_clock_starts_once_per_issue_and_kind(db: Database) -> None:
    def first(number: int, kind: str = "response") -> clocks.Clock | None:
        return db.tx(
            lambda c: clocks.begin_if_new(
                c,
                installation_id=1,
                repo="acme/support",
                issue_number=number,
                kind=kind,
                priority="urgent",
                request_type="problem",
                started_at=T0,
                due_at=T0 + timedelta(hours=1),
                warn_at=None,
                issue_title="Down",
                issue_url="u",
                issue_author="wile-e",
                started_by="opened by wile-e",
            )
        )

    begun = first(3)
    assert begun is not None and begun == db.tx(clocks.get, begun.id)
    assert first(3) is None  # the opening redelivered: nothing new
    db.tx(clocks.transition, begun.id, ["running"], "met")
    assert first(3) is None  # ended clocks count too: a reprocessed opening restarts nothing
    assert first(3, "resolution") is not None and first(4) is not None


def test_first_clocks_gathered_are_stored_together_where_the_issue_had_none(
    db: Database,
) -> None:
    def opened(conn: Connection, number: int, kind: str = "response") -> None:
        clocks.open_if_new(
            conn,
            installation_id=1,
            repo="acme/support",
            issue_number=number,
            kind=kind,
            priority="normal",
            request_type="other",
            started_at=T0 + timedelta(minutes=number),
            due_at=T0 + timedelta(days=1),
            warn_at=None,
            issue_title=f"#{number}",
            issue_url="u",
            issue_author="wile-e",
            started_by="opened by wile-e",
        )

    db.tx(lambda c: opened(c, 3))  # outside a wave: stored at once
    assert len(db.tx(clocks.of_issue, "acme/support", 3)) == 1

    def wave(conn: Connection) -> None:
        with clocks.gathered(conn):
            for number in (1, 2, 3):
                opened(conn, number)
            opened(conn, 3, "resolution")
            assert clocks.of_issue(conn, "acme/support", 1) == []  # not yet: at the end

    db.tx(wave)
    one, two, three = (db.tx(clocks.of_issue, "acme/support", n) for n in (1, 2, 3))
    assert [(c.issue_title, c.started_at, c.state) for c in one + two] == [
        ("#1", T0 + timedelta(minutes=1), "running"),
        ("#2", T0 + timedelta(minutes=2), "running"),
    ]
    assert sorted(c.kind for c in three) == ["resolution", "response"]  # #3's response: once

    def failing(conn: Connection) -> None:
        with clocks.gathered(conn):
            opened(conn, 9)
            raise RuntimeError("a handler failed")

    with pytest.raises(RuntimeError):
        db.tx(failing)
    assert db.tx(clocks.of_issue, "acme/support", 9) == []


def test_effects_gathered_are_stored_together_once_each(db: Database) -> None:
    def enqueue(conn: Connection, key: str) -> bool:
        return outbox.enqueue(conn, EffectKind.COMMENT, key=key, payload={}, now=T0, later=True)

    def wave(conn: Connection) -> list[str | None]:
        enqueue(conn, "seen-before")
        with outbox.gathered(conn):
            for key in ("a", "seen-before", "b"):
                enqueue(conn, key)
            inside = [k for k in ("a", "b") if outbox.by_key(conn, k) is not None]
            assert inside == []  # not yet: one insert when the wave ends
        return [item.key for item in outbox.claim_ready(conn, owner="w", now=T0, lease=LEASE)]

    assert db.tx(wave) == ["seen-before", "a", "b"]  # in order, and "seen-before" once

    def failing(conn: Connection) -> None:
        with outbox.gathered(conn):
            enqueue(conn, "c")
            raise RuntimeError("a handler failed")

    with pytest.raises(RuntimeError):
        db.tx(failing)
    assert db.tx(outbox.by_key, "c") is None


def test_rows_inserted_together_come_back_as_given_each_key_once(db: Database) -> None:
    """The group insert: every value survives, rows with other columns are not cut to the
    first row's, a key already stored or repeated in the batch is skipped, and only new keys
    are reported."""
    from app.store import queue
    from app.store.tables import outbox as table

    amsterdam = timezone(timedelta(hours=1))

    def row(key: str, n: int, **extra: Any) -> dict[str, Any]:
        return {
            "key": key,
            "target": "github",
            "kind": "comment",
            "status": "pending",
            "payload": json.dumps({"body": f"é {n}", "labels": ["a", "b"], "n": n}),
            "next_attempt_at": T0 + timedelta(minutes=n),
            "created_at": T0,
            "repo": None,
            **extra,
        }

    db.tx(queue.insert_new, table, [row("old", 0)], "key")
    rows = [row(f"k{n}", n) for n in range(1, 40)] + [row("old", 99), row("k1", 98)]
    rows += [
        row(
            "aware",
            50,
            next_attempt_at=datetime(2026, 11, 27, 9, 0, tzinfo=amsterdam),
            repo="acme/support",
            issue_number=7,
        )
    ]
    inserted = db.tx(queue.insert_new, table, rows, "key")
    assert inserted == {f"k{n}" for n in range(1, 40)} | {"aware"}
    k5, old, aware = (db.tx(outbox.by_key, key) for key in ("k5", "old", "aware"))
    assert k5 is not None and k5.payload == {"body": "é 5", "labels": ["a", "b"], "n": 5}
    assert old is not None and old.payload["n"] == 0  # the stored row is kept
    assert aware is not None and (aware.repo, aware.issue_number) == ("acme/support", 7)
    query = select(table.c.next_attempt_at).where(table.c.key == "aware")
    when = db.tx(lambda conn: conn.execute(query).scalar_one())
    assert when == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert db.tx(queue.insert_new, table, [], "key") == set()


@pytest.mark.postgres
def test_a_group_insert_is_parsed_once_per_shape_on_postgresql(pg_schema_url: str) -> None:
    """psycopg caches only short queries' parse; a batch of 30 deliveries is not short."""
    from psycopg import _queries

    engine = make_engine(pg_schema_url)
    migrate(engine)
    db = Database(engine)

    def batch(tag: str) -> None:
        rows = [
            {
                "id": f"{tag}-{n}",
                "event": "issues",
                "action": "opened",
                "installation_id": 1,
                "repo": "acme/support",
                "issue_number": n,
                "body": "{}",
                "received_at": T0,
                "status": deliveries.PENDING,
                "next_attempt_at": T0,
                "lane": 1,
            }
            for n in range(30)
        ]
        assert len(db.tx(queue.insert_new, tables.deliveries, rows, "id")) == 30

    batch("a")
    parsed = _queries._query2pg.cache_info()
    batch("b")
    after = _queries._query2pg.cache_info()
    engine.dispose()
    assert after.hits > parsed.hits and after.misses == parsed.misses


def test_an_sqlite_store_writes_ahead_and_keeps_its_temporary_work_in_memory(
    tmp_path: Path,
) -> None:
    """WAL (the sweep reads while the receiver writes), and no temporary file created and
    deleted for each group commit's statement journal."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in PRAGMAS]
    engine.dispose()
    assert pragmas == ["wal", 1, 1, 2]  # synchronous NORMAL, foreign keys on, temp in memory


PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "temp_store")
