"""alarm_history.note_data: system notes as data, worded by the console in Chinese or English

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 22:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _has_note_data() -> bool:
    # A database adopted from before migrations may have had alarm_history created from today's models.
    return "note_data" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("alarm_history")}


def upgrade() -> None:
    if _has_note_data():
        return
    with op.batch_alter_table("alarm_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note_data", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarm_history", schema=None) as batch_op:
        batch_op.drop_column("note_data")
