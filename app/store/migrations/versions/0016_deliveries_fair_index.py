"""ix_deliveries_fair: ready deliveries by lane and installation, in arrival order, so a claim
taken in turns by installation finds the installations with work and each one's oldest
deliveries in the index; it replaces ix_deliveries_claim (a claim no longer reads the whole
lane in arrival order)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_fair",
        "deliveries",
        ["status", "lane", "installation_id", "received_at", "id"],
    )
    op.drop_index("ix_deliveries_claim", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_claim", "deliveries", ["status", "lane", "received_at", "id"])
    op.drop_index("ix_deliveries_fair", table_name="deliveries")
