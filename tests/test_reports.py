"""Filing sealed reports and attachments through the domain layer, on a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from cases import keyring, reports
from cases.intake_keys import current
from cases.models import Attachment, Case, Caseworker, SealedIn
from crypto import token
from crypto.envelope import Purpose, seal
from crypto.keys import KeyPair
from crypto.stream import CHUNK_SIZE, open_file, seal_file

from .factories import Filed, file_case

CANARY = "CANARY-7f3e-witness-Maryam-in-Evin-prison"


def _file(session, settings, body: bytes, nonce: str | None = None) -> Filed:
    return file_case(session, raw_report=body, settings=settings, nonce=nonce)


def test_repeated_submit_makes_one_case(database, settings, installed) -> None:
    with database.session() as session:
        first = _file(session, settings, b"{}", nonce="tab-1-attempt")
    with database.session() as session:
        again = _file(session, settings, b"{}", nonce="tab-1-attempt")
        assert again.created is False and again.case_id == first.case_id
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_token_finds_its_case_and_only_its_case(database, settings, installed) -> None:
    with database.session() as session:
        filed = file_case(session, raw_report=b"{}", sealed_in=SealedIn.SERVER, settings=settings)
        _file(session, settings, b"{}")
    assert filed.token is not None
    with database.session() as session:
        typed = token.format_token(filed.token)
        found = reports.find_by_lookup(session, token.derive(typed, settings.pepper(), settings.argon2).lookup)
        assert found is not None and found.id == filed.case_id
        other = token.derive(token.generate(), settings.pepper(), settings.argon2)
        assert reports.find_by_lookup(session, other.lookup) is None


@pytest.mark.parametrize(
    "purpose, recipient",
    [(Purpose.MESSAGE, "intake"), (Purpose.REPORT, "stranger")],
)
def test_envelopes_not_meant_for_intake_are_refused(database, settings, installed, purpose, recipient) -> None:
    with database.session() as session:
        public = current(session).public_key if recipient == "intake" else KeyPair.generate().public
        derived = token.derive(token.generate(), settings.pepper(), settings.argon2)
        with pytest.raises(reports.Rejected):
            reports.file_report(
                session,
                envelope=seal(public, purpose, b"{}"),
                sealed_in=SealedIn.SERVER,
                token_lookup=derived.lookup,
                reporter_public_key=derived.reporter.public,
            )
        with pytest.raises(reports.Rejected):
            reports.file_report(
                session,
                envelope=b"not an envelope at all, just text",
                sealed_in=SealedIn.SERVER,
                token_lookup=derived.lookup,
                reporter_public_key=derived.reporter.public,
            )
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_chunked_upload_resumes_from_what_the_server_has(database, settings, blobs, installed) -> None:
    data = bytes(range(256)) * (3 * CHUNK_SIZE // 256) + b"tail"
    with database.session() as session:
        case = session.get_one(Case, _file(session, settings, b"{}").case_id)
        manifest, chunks = seal_file(current(session).public_key, data, "photo.jpg", "image/jpeg")
        attachment = reports.start_attachment(session, case, manifest, len(chunks))
        reports.put_chunk(session, blobs, attachment, 0, chunks[0])
        reports.put_chunk(session, blobs, attachment, 2, chunks[2])
        attachment_id = attachment.id
    # The connection dropped. The client asks what the server holds and sends the rest.
    with database.session() as session:
        attachment = session.get_one(Attachment, attachment_id)
        assert reports.present_chunks(session, attachment) == [0, 2]
        assert attachment.complete is False
        for index in set(range(len(chunks))) - set(reports.present_chunks(session, attachment)):
            reports.put_chunk(session, blobs, attachment, index, chunks[index])
        reports.put_chunk(session, blobs, attachment, 0, chunks[0])  # a retried chunk is harmless
        assert attachment.complete is True
        with pytest.raises(reports.Rejected):
            reports.put_chunk(session, blobs, attachment, len(chunks), chunks[0])
    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, admin, installed.admin_password)
        attachment = session.get_one(Attachment, attachment_id)
        got_manifest, got = open_file(ring.private_keys(), attachment.manifest, reports.read_chunks(blobs, attachment))
        assert got == data and got_manifest.name == "photo.jpg"


def test_nothing_a_reporter_wrote_is_at_rest_in_clear(database, settings, blobs, installed) -> None:
    """A canary in the report, a file's name and its content appears nowhere in the DB or blobs."""
    body = json.dumps({"what_happened": CANARY, "country": CANARY}).encode()
    file_case(database, raw_report=body, files=[(f"{CANARY}.txt", CANARY.encode() * 5000, "text/plain")], blobs=blobs)
    needles = [CANARY.encode(), CANARY.encode("utf-16-le"), CANARY.encode().hex().encode()]
    with database.engine.connect() as conn:
        names = [t for t in database.engine.dialect.get_table_names(conn)]
        for table in names:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                cell = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                assert not any(n in cell for n in needles), f"canary in clear in table {table}"
    if database.engine.dialect.name == "sqlite":
        raw = settings.home.joinpath("..", "test.db").resolve().read_bytes()
        assert not any(n in raw for n in needles), "canary in the SQLite file"
    files = [p for p in settings.blob_dir.rglob("*") if p.is_file()]
    assert files, "the attachment must have produced blobs"
    for path in files:
        assert not any(n in path.read_bytes() for n in needles) and CANARY not in str(path)
