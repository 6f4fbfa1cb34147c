"""Retention: processed deliveries, finished effects and finished jobs deleted after
SLA_RETENTION_DAYS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.sql.elements import ColumnElement

from app.store import deliveries as delivery_states
from app.store import jobs as job_states
from app.store import outbox as outbox_states
from app.store.tables import deliveries, jobs, outbox

# Rows deleted per transaction: a purge after a long pause never holds the store for long.
BATCH = 500


def purge_deliveries(conn: Connection, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` processed deliveries received before `before` (their bodies hold
    customers' text); pending, dead and rejected ones stay (retried, replayed, the record)."""
    old = (deliveries.c.status == delivery_states.DONE) & (deliveries.c.received_at < before)
    return _delete(conn, deliveries, old, limit)


def purge_effects(conn: Connection, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` sent, dead or not-sent effects decided before `before`; pending
    ones stay."""
    finished = [outbox_states.SENT, outbox_states.DEAD, outbox_states.NOT_SENT]
    old = outbox.c.status.in_(finished) & (outbox.c.created_at < before)
    return _delete(conn, outbox, old, limit)


def purge_jobs(conn: Connection, before: datetime, limit: int = BATCH) -> int:
    """Delete up to `limit` done or dead jobs that ended before `before`; pending ones stay.
    (A periodic reconcile's key names its period: one deleted is never planned again.)"""
    old = jobs.c.status.in_([job_states.DONE, job_states.DEAD]) & (jobs.c.finished_at < before)
    return _delete(conn, jobs, old, limit)


def _delete(conn: Connection, table: Table, where: ColumnElement[bool], limit: int) -> int:
    ids = select(table.c.id).where(where).limit(limit).scalar_subquery()
    return int(conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount)
