"""One key scheme: the decision core counts what it owes once per `Owe.key` (its in-memory
store, tests/sla/memory.py, does), the store writes it once per outbox key; they must agree,
or the core's tests would promise what the outbox does not keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from app.sla.clock import Clock
from app.sla.events import Owe, Owed, Step
from app.sla.policy import DEFAULT_POLICY
from app.sla.policy_sections import Oncall
from app.store import clocks, tables, tracking
from app.store.database import Database

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
POLICY = DEFAULT_POLICY.model_copy(update={"oncall": Oncall(pagerduty=True, buttons=True)})


def production_down(conn: Connection) -> Clock:
    return clocks.begin(
        conn,
        installation_id=1,
        repo="acme/support",
        issue_number=7,
        kind="response",
        priority="production-down",
        request_type="problem",
        started_at=T0,
        due_at=T0 + timedelta(minutes=30),
        issue_title="Checkout is down",
        issue_url="https://github.test/acme/support/issues/7",
        issue_author="kim",
        paged_at=T0,
    )


def written(conn: Connection) -> set[str]:
    return set(conn.execute(select(tables.outbox.c.key)).scalars())


def variants(owe: Owe, other_clock: int) -> list[Owe]:
    """The same owe again, then told apart by each of its parts in turn."""
    later = owe.at + timedelta(minutes=3)
    return [
        owe,
        replace(owe, who="lee"),
        replace(owe, at=later),
        replace(owe, note="answered" if owe.what is Owed.PAGE_STATUS else "9"),
        replace(owe, clock=other_clock),
    ]


@pytest.mark.parametrize("what", list(Owed))
def test_the_store_writes_an_owe_again_exactly_when_the_core_counts_it_again(
    db: Database, what: Owed
) -> None:
    with db.engine.begin() as conn:
        other = clocks.begin(conn, **_relabeled())
        clocks.transition(conn, other.id, ["running"], "dropped")
        episode = production_down(conn)
        subject = tracking.Subject.of_clock(episode)
        counted: set[str] = set()
        wrote_any = False
        for owe in variants(Owe(what, episode.id, T0, "dana", "ack"), other.id):
            before = written(conn)
            step = Step(None, (owe,))
            tracking.apply(conn, subject, [step], POLICY, owe.at)  # decided when it happened
            new = written(conn) - before
            wrote_any |= bool(new)
            if owe.key in counted:
                assert not new, f"{owe} counted once by the core, written again by the store"
            elif wrote_any:
                assert new, f"{owe} counted again by the core, not written by the store"
            counted.add(owe.key)
        assert wrote_any, f"{what} writes nothing at all"


def _relabeled() -> dict[str, object]:
    """The issue's first-response clock before it was relabeled production down."""
    return dict(
        installation_id=1,
        repo="acme/support",
        issue_number=7,
        kind="response",
        priority="urgent",
        request_type="problem",
        started_at=T0,
        due_at=T0 + timedelta(hours=1),
        issue_title="Checkout is down",
        issue_url="https://github.test/acme/support/issues/7",
        issue_author="kim",
    )
