"""Alembic environment: takes the engine handed over by cases.migrate, or DATABASE_URL."""

from __future__ import annotations

from alembic import context

from cases.config import Settings
from cases.db import make_engine
from cases.models import Base

config = context.config
engine = config.attributes.get("engine") or make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables safely
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
