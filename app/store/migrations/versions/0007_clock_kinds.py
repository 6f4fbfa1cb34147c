"""clocks.paused_at, paused_seconds, resumed_at, started_by, ended_by; a paused clock is live

Next-response, update and resolution clocks join the first response; the ones waiting on
the customer are paused, and a paused clock is still the issue's one live clock of its kind.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OLD = "state IN ('running', 'breached')"
_NEW = "state IN ('running', 'paused', 'breached')"


def _live_index(where: str) -> None:
    op.drop_index("ux_clocks_live", table_name="clocks")
    op.create_index(
        "ux_clocks_live",
        "clocks",
        ["repo", "issue_number", "kind"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    with op.batch_alter_table("clocks") as batch:
        batch.add_column(sa.Column("paused_at", sa.DateTime()))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("resumed_at", sa.DateTime()))
        batch.add_column(sa.Column("started_by", sa.String(255)))
        batch.add_column(sa.Column("ended_by", sa.String(255)))
    _live_index(_NEW)


def downgrade() -> None:
    op.execute("UPDATE clocks SET state = 'running' WHERE state = 'paused'")
    _live_index(_OLD)
    with op.batch_alter_table("clocks") as batch:
        for name in ("ended_by", "started_by", "resumed_at", "paused_seconds", "paused_at"):
            batch.drop_column(name)
