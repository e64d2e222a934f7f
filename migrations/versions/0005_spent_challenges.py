"""spent proof-of-work challenges, shared by every intake worker

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 22:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_challenges",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("paid_for", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_spent_challenges")),
    )
    with op.batch_alter_table("spent_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spent_challenges_expires_on"), ["expires_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("spent_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spent_challenges_expires_on"))
    op.drop_table("spent_challenges")
