"""public statistics in their own table, no longer sliced into settings rows

The desk stored the public aggregate as 480-character pieces in ``settings`` (``public_statistics``
names the count of ``public_statistics/<n>`` rows). Upgrading copies a complete stored aggregate
into the new one-row table and removes the pieces; pieces that do not add up to an aggregate (a
refresh caught half-written) are left as they were, since they hold nothing the next staff view
would not recompute. The intake's role is granted nothing on the new table.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HEAD = "public_statistics"
PART = 480  # characters per settings row: settings.value is VARCHAR(512)

settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.String))
statistics = sa.table("public_statistics", sa.column("id", sa.Integer), sa.column("aggregate", sa.Text))
_PIECES = sa.or_(settings.c.key == HEAD, settings.c.key.like(f"{HEAD}/%"))


def _joined(rows: dict[str, str]) -> str | None:
    """The aggregate the pieces add up to, or None if they do not."""
    try:
        count = json.loads(rows[HEAD])["parts"]
        text = "".join(rows[f"{HEAD}/{n}"] for n in range(count))
        aggregate = json.loads(text)
    except (KeyError, TypeError, ValueError):
        return None
    return text if isinstance(aggregate, dict) and isinstance(aggregate.get("tables"), dict) else None


def upgrade() -> None:
    op.create_table(
        "public_statistics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aggregate", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_public_statistics_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_statistics")),
    )
    bind = op.get_bind()
    rows = {key: value for key, value in bind.execute(sa.select(settings.c.key, settings.c.value).where(_PIECES))}
    text = _joined(rows)
    if text is not None:
        bind.execute(statistics.insert().values(id=1, aggregate=text))
        bind.execute(settings.delete().where(_PIECES))


def downgrade() -> None:
    bind = op.get_bind()
    text = bind.execute(sa.select(statistics.c.aggregate)).scalar()
    if text is not None:
        parts = [text[i : i + PART] for i in range(0, len(text), PART)]
        on = json.loads(text).get("on")
        bind.execute(settings.delete().where(_PIECES))
        bind.execute(
            settings.insert(),
            [
                {"key": HEAD, "value": json.dumps({"on": on, "parts": len(parts)})},
                *({"key": f"{HEAD}/{n}", "value": part} for n, part in enumerate(parts)),
            ],
        )
    op.drop_table("public_statistics")
