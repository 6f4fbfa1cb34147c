"""calls: the escalation number's calls (Twilio), one per CallSid

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from app.store.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(64), nullable=False, unique=True),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("called_at", UTCDateTime(), nullable=False),
        sa.Column("clock_id", sa.Integer()),
        sa.Column("issue_number", sa.Integer()),
        sa.Column("issue_url", sa.Text()),
        sa.Column("outcome", sa.String(16)),
        sa.Column("recording_url", sa.Text()),
        sa.Column("recording_seconds", sa.Integer()),
        sa.Column("transcript", sa.Text()),
        sa.Column("transcript_status", sa.String(16)),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("opening_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("calls")
