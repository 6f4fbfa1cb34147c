"""ix_deliveries_claim: ready deliveries in claim order (lane, then arrival), so a claim reads
the first rows of an index instead of sorting every pending delivery; it replaces
ix_deliveries_ready, whose range on next_attempt_at the planners preferred, sort and all

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_claim", "deliveries", ["status", "lane", "received_at", "id"])
    op.drop_index("ix_deliveries_ready", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_ready", "deliveries", ["status", "next_attempt_at"])
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
