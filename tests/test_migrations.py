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
    "public_statistics",
    "report_details",
    "settings",
    "spent_challenges",
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


def test_upgrade_is_idempotent_and_keeps_data(database, installed) -> None:
    from sqlalchemy import func, select

    from cases.models import Caseworker

    migrate.upgrade(database.engine)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Caseworker)) == 1


def test_upgrading_an_installation_with_data_loses_nothing(database_url: str) -> None:
    """Rows written under the first schema survive every later migration, new columns defaulted."""
    from sqlalchemy import func, select, text

    from cases import installation, intake_writes
    from cases.db import Database
    from cases.models import Case, Caseworker, Role
    from crypto.kdf import TESTING

    engine = make_engine(database_url)
    migrate.upgrade(engine, "0001")
    db = Database(engine)
    with engine.begin() as conn:  # plain SQL: the models describe the newest schema, not 0001
        conn.execute(
            text("INSERT INTO intake_keys (id, public_key, created_on) VALUES ('00', :pk, '2026-01-01')"),
            {"pk": b"\x04" + b"\x01" * 64},
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, status, urgent, received_on, updated_on, sealed_in, token_lookup,"
                " reporter_public_key) VALUES ('case1', 'received', true, '2026-01-02', '2026-01-02', 'server',"
                " :lookup, :pk)"
            ),
            {"lookup": b"L" * 32, "pk": b"\x04" + b"\x02" * 64},
        )
    migrate.upgrade(engine)
    with db.session() as session:
        case = session.get_one(Case, "case1")
        assert case.urgent is True and case.token_lookup == b"L" * 32
        assert case.notify_pending is False and case.receipt_box is None
        # The intake's capability-checked writes (migration 0004) work on the migrated rows.
        assert intake_writes.open_case(session, b"L" * 32) == "case1"
        installation.create_caseworker(session, "after", "a long enough password", Role.CASEWORKER, TESTING)
    with db.session() as session:
        worker = session.scalar(select(Caseworker))
        assert worker.failed_logins == 0 and session.scalar(select(func.count()).select_from(Caseworker)) == 1
    engine.dispose()


def _stored_pieces(engine) -> dict[str, str]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT key, value FROM settings WHERE key LIKE 'public_statistics%'")).all())


def test_statistics_stored_in_settings_rows_move_to_their_table_and_back(database_url: str) -> None:
    """0006: an aggregate sliced into settings rows arrives whole in public_statistics; down again,
    it is sliced as before; other settings are untouched."""
    import datetime as dt
    import json

    from sqlalchemy import text

    from cases import statistics, statistics_snapshot
    from cases.db import Database

    facts = [statistics.Facts("2025-03", "named", f"Country {n:02d}", ("threats",), (), "credible") for n in range(40)]
    aggregate = statistics.publish(facts * 5, 5, dt.date(2025, 4, 1))
    body = json.dumps(aggregate, ensure_ascii=True, separators=(",", ":"))
    parts = [body[i : i + 480] for i in range(0, len(body), 480)]
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    with engine.begin() as conn:
        rows = [("public_statistics", json.dumps({"on": aggregate["on"], "parts": len(parts)})), ("other", "kept")]
        rows += [(f"public_statistics/{n}", part) for n, part in enumerate(parts)]
        conn.execute(text("INSERT INTO settings (key, value) VALUES (:k, :v)"), [{"k": k, "v": v} for k, v in rows])
    before = _stored_pieces(engine)
    assert len(before) == len(parts) + 1 >= 3
    migrate.upgrade(engine)
    assert _stored_pieces(engine) == {}
    with Database(engine).session() as session:
        assert statistics_snapshot.load(session) == aggregate
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM settings WHERE key = 'other'")).scalar_one() == "kept"
    migrate.downgrade(engine, "0005")
    assert _stored_pieces(engine) == before
    engine.dispose()


def test_a_half_written_statistics_snapshot_is_left_as_it_was(database_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO settings (key, value) VALUES ('public_statistics', :v), ('public_statistics/0', '{')"),
            {"v": '{"on": "2025-04-01", "parts": 2}'},
        )
    migrate.upgrade(engine)
    assert set(_stored_pieces(engine)) == {"public_statistics", "public_statistics/0"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM public_statistics")).scalar_one() == 0
    engine.dispose()


def test_0007_details_table_up_and_down_with_data(database_url: str) -> None:
    """0007: report_details arrives empty beside existing cases, takes details through the intake's
    write, and going down removes it (and only it): the case and its report stay."""
    import datetime as dt

    from sqlalchemy import text

    from cases import intake_writes
    from cases.db import Database

    engine = make_engine(database_url)
    migrate.upgrade(engine, "0006")
    assert "report_details" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO intake_keys (id, public_key, created_on) VALUES ('00', :pk, '2026-01-01')"),
            {"pk": b"\x04" + b"\x01" * 64},
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, status, urgent, received_on, updated_on, sealed_in, token_lookup,"
                " reporter_public_key, notify_pending) VALUES ('case1', 'received', false, '2026-01-02', '2026-01-02',"
                " 'server', :lookup, :pk, false)"
            ),
            {"lookup": b"L" * 32, "pk": b"\x04" + b"\x02" * 64},
        )
        conn.execute(
            text(
                "INSERT INTO submissions (case_id, received_on, intake_key_id, envelope)"
                " VALUES ('case1', '2026-01-02', '00', :e)"
            ),
            {"e": b"sealed report"},
        )
    migrate.upgrade(engine)
    with Database(engine).session() as session:
        assert intake_writes.add_details(session, b"L" * 32, "00", b"sealed details", dt.date(2026, 1, 5)) is not None
        assert intake_writes.add_details(session, b"X" * 32, "00", b"no such case", dt.date(2026, 1, 5)) is None
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, received_on, envelope FROM report_details")).all()
        assert [(r[0], str(r[1]), bytes(r[2])) for r in rows] == [("case1", "2026-01-05", b"sealed details")]
        assert conn.execute(text("SELECT notify_pending FROM cases")).scalar_one() in (True, 1)
    migrate.downgrade(engine, "0006")
    assert "report_details" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT envelope FROM submissions WHERE case_id = 'case1'")).scalar_one()
            == b"sealed report"
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report_details")).scalar_one() == 0
    engine.dispose()
