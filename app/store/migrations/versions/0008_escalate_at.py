"""clocks.escalate_at: the sweep finds pages to escalate by index, not by scanning live clocks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clocks") as batch:
        batch.add_column(sa.Column("escalate_at", sa.DateTime()))
    op.create_index("ix_clocks_escalate", "clocks", ["escalate_at"])
    # Live pages of before: the next sweep looks at each once (acknowledged or escalated
    # already, it only clears the mark).
    op.execute(
        "UPDATE clocks SET escalate_at = started_at WHERE kind = 'response'"
        " AND priority = 'production-down' AND state IN ('running', 'paused', 'breached')"
    )


def downgrade() -> None:
    op.drop_index("ix_clocks_escalate", table_name="clocks")
    with op.batch_alter_table("clocks") as batch:
        batch.drop_column("escalate_at")
