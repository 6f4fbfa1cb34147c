"""meta: this store's deployment id, part of every PagerDuty dedup_key (two stores or two
deployments on one routing key never share an incident)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "deployment", "value": secrets.token_hex(6)}])


def downgrade() -> None:
    op.drop_table("meta")
