"""details a reporter adds after the quick report ("Add details"), in a table of their own

A new table rather than a ``kind`` column on ``messages``: details are not part of the two-way
thread (no reporter copy, no reply, no files), are merged into the report's answers by the desk,
and must not be confused with a message by any older reader of ``messages``. Rows are only ever
inserted, by the intake, through ``intake_add_details`` (PostgreSQL), which finds the case by the
token's lookup hash like ``intake_follow_up``; the intake's role gets EXECUTE on that function and
no privilege on the table. Downgrading drops the table and the details in it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SIGNATURE = "intake_add_details(bytea, text, bytea, date)"
FUNCTION = """
CREATE FUNCTION intake_add_details(p_token_lookup bytea, p_intake_key_id text, p_envelope bytea, p_day date)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
DECLARE v_case text; v_id integer;
BEGIN
    SELECT id INTO v_case FROM cases WHERE token_lookup = p_token_lookup FOR UPDATE;
    IF v_case IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO report_details (case_id, received_on, intake_key_id, envelope)
    VALUES (v_case, p_day, p_intake_key_id, p_envelope) RETURNING id INTO v_id;
    UPDATE cases SET updated_on = p_day, notify_pending = true WHERE id = v_case;
    RETURN v_id;
END $$"""


def upgrade() -> None:
    op.create_table(
        "report_details",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=24), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("intake_key_id", sa.String(length=16), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("read_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_report_details_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["intake_key_id"], ["intake_keys.id"], name=op.f("fk_report_details_intake_key_id_intake_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_details")),
    )
    with op.batch_alter_table("report_details", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_details_case_id"), ["case_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite has no roles: cases/intake_writes.py does the same with the ORM
    schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    bind.exec_driver_sql(FUNCTION.replace("@SCHEMA@", schema))
    bind.exec_driver_sql(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql(f"DROP FUNCTION {SIGNATURE}")
    with op.batch_alter_table("report_details", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_details_case_id"))
    op.drop_table("report_details")
