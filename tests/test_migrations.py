"""Migrations build the schema from empty, match the models exactly, and run down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cases import migrate
from cases.db import make_engine
from cases.models import Base

TABLES = {
    "alembic_version",
    "attachment_chunks",
    "attachments",
    "audit_events",
    "caseworkers",
    "cases",
    "intake_keys",
    "messages",
    "notes",
    "settings",
    "staff_sessions",
    "status_changes",
    "submissions",
    "wrapped_keys",
}


def test_upgrade_from_empty_builds_every_table(database_url: str) -> None:
    engine = make_engine(database_url)
    assert inspect(engine).get_table_names() == []
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    engine.dispose()


def test_upgrade_is_idempotent_and_keeps_data(database, installed) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from cases.models import Caseworker

    migrate.upgrade(database.engine)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Caseworker)) == 1
