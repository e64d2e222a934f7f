"""What the intake's PostgreSQL role may read and write: every table, column and function.

deploy/postgres-intake-role.sql gives the intake no direct writes at all; it changes rows only
through the capability-checked functions of migration 0004. The matrix below is compared with
what PostgreSQL itself reports, so a new table, column or grant must be decided here on purpose.
Then every write item 2 of issue 7 found possible is attempted under the role and must fail.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import DBAPIError

import intake
from cases import intake_writes
from cases import proof_of_work as pow_module
from cases.config import Settings
from cases.db import Database
from cases.intake_keys import current
from cases.models import Attachment, AttachmentChunk, Base, Case, Message, ReportDetails, SealedIn, Status
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file

from .conftest import Installed
from .reporter_helpers import PageFields, json_request, report_request

pytestmark = pytest.mark.skipif("postgres" not in os.environ.get("RRI_TEST_DB", ""), reason="PostgreSQL only")

GRANTS = Path(__file__).resolve().parents[1] / "deploy" / "postgres-intake-role.sql"
ALL = "*"
# table -> columns the role may SELECT (ALL or a set); absent tables: nothing at all.
READABLE: dict[str, set[str] | str] = {
    "intake_keys": ALL,
    "settings": ALL,
    "cases": {c.name for c in Case.__table__.columns} - {"token_lookup"},
    "submissions": ALL,
    "status_changes": ALL,
    "messages": ALL,
    "attachments": {c.name for c in Attachment.__table__.columns} - {"upload_secret_hash"},
    "attachment_chunks": ALL,
}
# The one table the intake writes directly: proof-of-work it has seen spent, its own bookkeeping.
WRITABLE = {"spent_challenges": ("INSERT", "DELETE")}
READABLE["spent_challenges"] = ALL
# Tables of the desk alone, named so that their absence above is a decision: no privilege at all.
# report_details (migration 0007) is written by the intake only through intake_add_details, which
# finds the case by the token's lookup hash; the role itself may not even read or insert a row.
DESK_ONLY = {"public_statistics", "report_details"}
FUNCTIONS = {
    "intake_file_case",
    "intake_open_case",
    "intake_follow_up",
    "intake_delete_channel",
    "intake_lock_upload",
    "intake_record_chunk",
    "intake_add_details",
}


@pytest.fixture
def schema(database_url: str) -> str:
    return database_url.rsplit("%3D", 1)[1]


def _role(database: Database, schema: str) -> str:
    role = f"intake_{secrets.token_hex(4)}"
    sql = GRANTS.read_text().replace(":schema", f'"{schema}"').replace(":role", f'"{role}"')
    with database.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(sql))
    return role


@pytest.fixture
def restricted(
    database: Database, installed: Installed, database_url: str, schema: str
) -> Iterator[tuple[str, Engine]]:
    role = _role(database, schema)
    engine = create_engine(database_url.replace("postgres@", f"{role}@"))
    try:
        yield role, engine
    finally:
        engine.dispose()
        with database.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_the_role_can_do_exactly_what_the_matrix_says(
    database: Database, restricted: tuple[str, Engine], schema: str
) -> None:
    role, _engine = restricted
    with database.engine.connect() as conn:
        tables = sorted(
            conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
            ).scalars()
        )
        assert set(Base.metadata.tables) <= set(tables)
        assert set(tables) >= DESK_ONLY and not DESK_ONLY & (set(READABLE) | set(WRITABLE))
        differences = []
        for table in tables:
            qualified = f'"{schema}"."{table}"'
            columns = conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
                {"s": schema, "t": table},
            ).scalars()
            readable = READABLE.get(table, set())
            for column in columns:
                insertable = "INSERT" in WRITABLE.get(table, ())
                expected = {"SELECT": readable == ALL or column in readable, "INSERT": insertable, "UPDATE": False}
                for privilege, want in expected.items():
                    have = conn.execute(
                        text("SELECT has_column_privilege(:r, :t, :c, :p)"),
                        {"r": role, "t": qualified, "c": column, "p": privilege},
                    ).scalar()
                    if have != want:
                        differences.append(f"{privilege} {table}.{column}: {have}, expected {want}")
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                have = conn.execute(
                    text("SELECT has_table_privilege(:r, :t, :p)"), {"r": role, "t": qualified, "p": privilege}
                ).scalar()
                if have != (privilege in WRITABLE.get(table, ())):
                    differences.append(f"{privilege} on {table}: {have}")
        executable = set(
            conn.execute(
                text(
                    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = :s AND has_function_privilege(:r, p.oid, 'EXECUTE')"
                ),
                {"s": schema, "r": role},
            ).scalars()
        )
        assert executable == FUNCTIONS
        # Only the intake's role: nobody else on the server may call them (PUBLIC gets nothing).
        public = conn.execute(
            text(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :s AND has_function_privilege('public', p.oid, 'EXECUTE')"
            ),
            {"s": schema},
        ).scalars()
        assert list(public) == []
        definers = conn.execute(
            text(
                "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = :s"
            ),
            {"s": schema},
        ).all()
        for name, security_definer, config in definers:
            assert security_definer and any(c.startswith("search_path=") for c in config or []), name
    assert differences == []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclasses.dataclass
class Filed:
    case_id: str
    token: str
    upload: dict[str, str]
    engine: Engine
    client: FlaskClient


@pytest.fixture
def filed(
    settings: Settings,
    database: Database,
    installed: Installed,
    restricted: tuple[str, Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> Filed:
    """A report with one file, filed and uploaded through the API under the restricted role."""
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)
    _role_name, engine = restricted
    app = intake.create_app(dataclasses.replace(settings, pow_bits=0), Database(engine))
    client = app.test_client()
    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, b"x" * 150_000, "evidence.txt", "text/plain")
    page = PageFields.of(client.get("/en/").get_data(as_text=True))
    body, headers = report_request(page, public, urgent=True, files=[(manifest, len(chunks))])
    answer = client.post("/en/api/report", json=body, headers=headers).get_json()
    upload = answer["uploads"][0]
    for index, sealed in enumerate(chunks):
        response = client.put(
            f"/api/upload/{upload['id']}/{index}", data=sealed, headers={"X-Upload-Secret": upload["secret"]}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"complete": True}
    with database.session() as session:
        case_id = session.scalars(select(Case.id)).one()
    return Filed(case_id, answer["token"], upload, engine, client)


def _refused(engine: Engine, sql: str, **params: object) -> None:
    with engine.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.execute(text(sql), params)


def test_every_write_the_audit_made_fails_under_the_role(database: Database, filed: Filed) -> None:
    case_id, upload, engine = filed.case_id, filed.upload, filed.engine
    _refused(engine, "UPDATE cases SET reporter_public_key = :k WHERE id = :i", k=b"\x04" * 65, i=case_id)
    _refused(engine, "UPDATE cases SET status = 'closed', closed_on = '2000-01-01' WHERE id = :i", i=case_id)
    _refused(engine, "UPDATE cases SET urgent = false WHERE id = :i", i=case_id)
    _refused(engine, "UPDATE attachment_chunks SET size = 1 WHERE attachment_id = :i", i=upload["id"])
    _refused(engine, "DELETE FROM attachment_chunks WHERE attachment_id = :i", i=upload["id"])
    _refused(engine, "INSERT INTO attachment_chunks VALUES (:i, 99, 16)", i=upload["id"])
    _refused(engine, "UPDATE attachments SET complete = false WHERE id = :i", i=upload["id"])
    _refused(engine, "INSERT INTO status_changes (case_id, status, changed_on) VALUES (:i, 'closed', now())", i=case_id)
    _refused(
        engine,
        "INSERT INTO messages (case_id, direction, sent_on, team_envelope) VALUES (:i, 'to_reporter', now(), '')",
        i=case_id,
    )
    _refused(engine, "DELETE FROM cases WHERE id = :i", i=case_id)
    _refused(engine, "SELECT token_lookup FROM cases")
    _refused(engine, "SELECT upload_secret_hash FROM attachments")
    _refused(engine, "SELECT * FROM notes")
    _refused(engine, "SELECT * FROM report_details")
    _refused(
        engine,
        "INSERT INTO report_details (case_id, received_on, intake_key_id, envelope) "
        "SELECT :i, now(), id, '' FROM intake_keys",
        i=case_id,
    )
    # Through the functions, no capability means no change.
    with Database(engine).session() as session:
        assert intake_writes.open_case(session, b"\x00" * 32) is None
        assert intake_writes.follow_up(session, b"\x00" * 32, b"team", None, dt.date(2000, 1, 1), []) is None
        assert intake_writes.add_details(session, b"\x00" * 32, "00", b"details", dt.date(2000, 1, 1)) is None
        assert intake_writes.delete_channel(session, b"\x00" * 32) is False
        with pytest.raises(intake_writes.NoCapability):
            intake_writes.lock_upload(session, upload["id"], "guessed")
    with Database(engine).session() as session, pytest.raises(DBAPIError, match="no live upload capability"):
        session.execute(text("SELECT intake_record_chunk(:i, 'guessed', 0, 16)"), {"i": upload["id"]})
    # The real secret cannot rewrite a finished file either.
    with Database(engine).session() as session:
        assert intake_writes.record_chunk(session, upload["id"], upload["secret"], 2, 16) is True
    with database.session() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.urgent, case.closed_on) == (Status.RECEIVED, True, None)
        assert case.reporter_public_key is not None
        sizes = list(session.scalars(select(AttachmentChunk.size).where(AttachmentChunk.attachment_id == upload["id"])))
        assert len(sizes) == 3 and 16 not in sizes


def test_a_repeated_submission_key_cannot_change_the_first_case(database: Database, filed: Filed) -> None:
    case_id, engine = filed.case_id, filed.engine
    with database.session() as session:
        key = session.get_one(Case, case_id).submission_key
    assert key is not None
    with Database(engine).session() as session:
        found, created = intake_writes.file_case(
            session,
            case_id="forged",
            submission_key=key,
            urgent=False,
            sealed_in=SealedIn.SERVER,
            token_lookup=b"\x01" * 32,
            reporter_public_key=b"\x04" * 65,
            receipt_box=b"",
            intake_key_id="x",
            envelope=b"",
            day=dt.date(2000, 1, 1),
            uploads=[],
        )
    assert (found, created) == (case_id, False)
    with database.session() as session:
        case = session.get_one(Case, case_id)
        assert case.urgent is True and case.reporter_public_key != b"\x04" * 65 and case.token_lookup != b"\x01" * 32


def test_a_follow_up_with_a_file_works_under_the_role(database: Database, filed: Filed) -> None:
    case_id, client = filed.case_id, filed.client
    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, b"more", "more.txt", "text/plain")
    page = PageFields.of(client.get("/en/").get_data(as_text=True))
    body, headers = json_request(
        page,
        token=filed.token,
        team=_b64(seal(public, Purpose.MESSAGE, b"sealed", context=f"case:{case_id}".encode())),
        files=[{"manifest": _b64(manifest), "chunks": 1}],
    )
    response = client.post("/en/api/message", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    upload = response.get_json()["uploads"][0]
    sent = client.put(f"/api/upload/{upload['id']}/0", data=chunks[0], headers={"X-Upload-Secret": upload["secret"]})
    assert sent.get_json() == {"complete": True}
    with database.session() as session:
        messages = session.scalars(select(Message).where(Message.case_id == case_id)).all()
        assert len(messages) == 1
        assert session.get_one(Attachment, upload["id"]).message_id == messages[0].id


def test_details_are_added_under_the_role_and_nothing_else_changes(database: Database, filed: Filed) -> None:
    case_id, client = filed.case_id, filed.client
    with database.session() as session:
        public = current(session).public_key
        before = session.get_one(Case, case_id)
        status, urgent = before.status, before.urgent
    page = PageFields.of(client.get("/en/").get_data(as_text=True))
    plaintext = b'{"v":1,"answers":{"when":"May"}}'
    sealed = seal(public, Purpose.DETAILS, plaintext, context=f"case:{case_id}/details".encode())
    body, headers = json_request(page, token=filed.token, details=_b64(sealed))
    response = client.post("/en/api/details", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    with database.session() as session:
        rows = session.scalars(select(ReportDetails).where(ReportDetails.case_id == case_id)).all()
        assert [bytes(r.envelope) for r in rows] == [sealed]
        case = session.get_one(Case, case_id)
        assert (case.status, case.urgent, case.notify_pending) == (status, urgent, True)
