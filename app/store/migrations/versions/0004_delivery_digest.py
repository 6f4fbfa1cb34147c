"""deliveries.body_sha256: a signed body stored once, whatever delivery id it comes under

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("body_sha256", sa.String(length=64)))
    op.create_index("ux_deliveries_digest", "deliveries", ["body_sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_deliveries_digest", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("body_sha256")
