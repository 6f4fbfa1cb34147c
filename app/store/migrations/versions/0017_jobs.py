"""jobs: reconciles and redeliveries become jobs of their own, out of the outbox of effects

The outbox's reconcile and redeliver rows are moved into `jobs` under the same keys, all of
them, and deleted from the outbox: pending ones stay pending (a lease an older replica still
holds is kept, so a job it is running is not started beside it during a rolling upgrade; its
success then finds no outbox row to record, and the job runs once more after the lease, which
a reconcile and a redelivery afford: both change nothing the second time), sent ones become
done, dead and not-sent ones dead (with their error or reason). Finished rows
are moved rather than deleted because their keys are what makes a job once per key: a
periodic reconcile of the current period, or the redelivery of a GUID, is not planned again
after the upgrade; and a dead one stays where `sla-bot deliveries --failed` shows it and
`--replay` queues it again. A finished row's end is its `sent_at`, else (dead, not sent, no
time recorded) its `created_at`, which is also when the outbox's retention would have deleted
it. The downgrade moves them back.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from app.store.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The kinds' values as stored (app.store.jobs.JobKind).
KINDS = "('reconcile', 'redeliver')"

TO_JOBS = f"""
INSERT INTO jobs (key, kind, installation_id, repo, payload, status, attempts,
                  next_attempt_at, lease_until, lease_owner, last_error, result, created_at,
                  finished_at)
SELECT key, kind, installation_id, repo, payload,
       CASE status WHEN 'pending' THEN 'pending' WHEN 'sent' THEN 'done' ELSE 'dead' END,
       attempts, next_attempt_at, lease_until, lease_owner, last_error, result, created_at,
       CASE status WHEN 'pending' THEN NULL WHEN 'sent' THEN sent_at ELSE created_at END
FROM outbox WHERE kind IN {KINDS} ORDER BY id
"""

TO_OUTBOX = """
INSERT INTO outbox (key, target, kind, installation_id, repo, payload, status, attempts,
                    next_attempt_at, lease_until, lease_owner, last_error, result, created_at,
                    sent_at, lane)
SELECT key, 'github', kind, installation_id, repo, payload,
       CASE status WHEN 'done' THEN 'sent' ELSE status END,
       attempts, next_attempt_at, lease_until, lease_owner, last_error, result, created_at,
       CASE status WHEN 'done' THEN finished_at END, 1
FROM jobs ORDER BY id
"""


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(255)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("last_error", sa.Text()),
        sa.Column("result", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
    )
    op.create_index("ix_jobs_ready", "jobs", ["status", "next_attempt_at", "installation_id", "id"])
    op.execute(TO_JOBS)
    op.execute(f"DELETE FROM outbox WHERE kind IN {KINDS}")


def downgrade() -> None:
    op.execute(TO_OUTBOX)
    op.drop_index("ix_jobs_ready", table_name="jobs")
    op.drop_table("jobs")
