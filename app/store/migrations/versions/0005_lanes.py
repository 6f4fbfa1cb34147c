"""deliveries.lane, outbox.lane: production-down work is claimed before routine work

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("deliveries", "outbox"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="1")
            )


def downgrade() -> None:
    for table in ("deliveries", "outbox"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lane")
