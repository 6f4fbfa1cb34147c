"""clocks.paged_at, acked_at, page_ended_at: an incident episode's page, acknowledgement and
end, kept on its first-response clock (they were read from the outbox's keys)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SENT = "SELECT MIN(created_at) FROM outbox WHERE outbox.key = {key}"
_KEY = "'{prefix}' || CAST(clocks.id AS VARCHAR(20))"


def upgrade() -> None:
    with op.batch_alter_table("clocks") as batch:
        batch.add_column(sa.Column("paged_at", sa.DateTime()))
        batch.add_column(sa.Column("acked_at", sa.DateTime()))
        batch.add_column(sa.Column("page_ended_at", sa.DateTime()))
    # Episodes of before: paged when their page was decided, acknowledged when the
    # acknowledgement was, over when resolved from the page or once the clock ended unmet.
    page = _SENT.format(key=_KEY.format(prefix="slack:page:clock:"))
    ack = _SENT.format(key=_KEY.format(prefix="oncall:ack:"))
    resolve = _SENT.format(key=_KEY.format(prefix="oncall:resolve:"))
    op.execute(f"UPDATE clocks SET paged_at = ({page}) WHERE kind = 'response'")
    op.execute(f"UPDATE clocks SET acked_at = ({ack}) WHERE paged_at IS NOT NULL")
    op.execute(f"UPDATE clocks SET page_ended_at = ({resolve}) WHERE paged_at IS NOT NULL")
    op.execute(
        "UPDATE clocks SET page_ended_at = ended_at WHERE paged_at IS NOT NULL"
        " AND page_ended_at IS NULL AND state IN ('stopped', 'replaced', 'dropped')"
    )


def downgrade() -> None:
    with op.batch_alter_table("clocks") as batch:
        batch.drop_column("page_ended_at")
        batch.drop_column("acked_at")
        batch.drop_column("paged_at")
