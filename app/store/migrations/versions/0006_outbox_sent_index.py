"""ix_outbox_sent: an installation's recent GitHub writes, read before each paced write

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_sent", "outbox", ["installation_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent", table_name="outbox")
