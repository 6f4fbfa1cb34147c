"""slack_threads: requests from Slack (channels claimed by repositories, each thread with its
issue, each message with its comment)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from app.store.tables import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_channels",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("rival", sa.String(255)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "slack_threads",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("requester", sa.String(32), nullable=False),
        sa.Column("requester_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("team_id", sa.String(32)),
        sa.Column("permalink", sa.Text()),
        sa.Column("issue_number", sa.Integer()),
        sa.Column("issue_url", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ux_slack_threads_thread", "slack_threads", ["channel", "thread_ts"], unique=True
    )
    op.create_index("ix_slack_threads_issue", "slack_threads", ["repo", "issue_number"])
    op.create_table(
        "slack_messages",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("ts", sa.String(32), primary_key=True),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(32)),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("comment_id", sa.BigInteger()),
        sa.Column("body", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_slack_messages_comment", "slack_messages", ["comment_id"])


def downgrade() -> None:
    op.drop_table("slack_messages")
    op.drop_table("slack_threads")
    op.drop_table("slack_channels")
