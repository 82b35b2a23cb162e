"""alarm marks and shadow reports (learning from the cameras)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 22:35:07.973633
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("by", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarm_marks", schema=None) as batch_op:
        batch_op.create_index("ix_alarm_marks_alarm", ["alarm_id", "id"], unique=False)

    op.create_table(
        "shadow_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("edge", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live_raised", sa.Boolean(), nullable=False),
        sa.Column("shadow_raised", sa.Boolean(), nullable=False),
        sa.Column("live_model", sa.String(length=128), nullable=False),
        sa.Column("shadow_model", sa.String(length=128), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id"),
    )
    with op.batch_alter_table("shadow_reports", schema=None) as batch_op:
        batch_op.create_index("ix_shadow_reports_device", ["device", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shadow_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_reports_device")

    op.drop_table("shadow_reports")
    with op.batch_alter_table("alarm_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_marks_alarm")

    op.drop_table("alarm_marks")
