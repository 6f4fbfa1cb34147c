"""http_cache: ETags of GitHub reads, so a reconcile in a new process is conditional too

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_cache",
        sa.Column("url", sa.String(length=760), primary_key=True),
        sa.Column("etag", sa.String(length=255)),
        sa.Column("last_modified", sa.String(length=64)),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("more", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("http_cache")
