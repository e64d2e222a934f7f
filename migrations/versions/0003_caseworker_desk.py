"""caseworker desk

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:16:17.881827
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage_envelope", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("index_blob", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("notify_pending", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("caseworkers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("caseworkers", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("language")
        batch_op.drop_column("email")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("notify_pending")
        batch_op.drop_column("index_blob")
        batch_op.drop_column("triage_envelope")
