"""Helpers for the reporter-side tests: canaries, test files, and reading a case as staff would."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from sqlalchemy import select, text

from cases import keyring, reports
from cases.models import Attachment, Case, Caseworker, Submission
from crypto.envelope import Purpose, open_envelope
from crypto.stream import open_file

CANARY = "CANARY-Zq81-detained-in-Evin"
PHOTO_CANARY = "GPS-CANARY-35.6892N-51.3890E"


def png_with_metadata() -> bytes:
    """A 1x1 PNG carrying a tEXt chunk with a location canary (as phone cameras write them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    note = chunk(b"tEXt", b"Location\x00" + PHOTO_CANARY.encode())
    pixels = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + header + note + pixels + chunk(b"IEND", b"")


def document(size: int = 150_000) -> bytes:
    """A text file larger than two chunks, full of the canary."""
    line = (CANARY + " witness statement\n").encode()
    return (line * (size // len(line) + 1))[:size]


def read_case(database, password: str, case_id: str, blobs) -> tuple[dict, list[tuple[str, bytes]]]:  # type: ignore[no-untyped-def]
    """Decrypt a case the way the caseworker desk will: admin password -> keys -> report, files."""
    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, admin, password)
        submission = session.scalar(select(Submission).where(Submission.case_id == case_id))
        report = json.loads(open_envelope(ring.private_keys(), Purpose.REPORT, submission.envelope))
        files = []
        for attachment in session.scalars(select(Attachment).where(Attachment.case_id == case_id)):
            manifest, data = open_file(ring.private_keys(), attachment.manifest, reports.read_chunks(blobs, attachment))
            files.append((manifest.name, data))
        return report, sorted(files)


def only_case(database) -> Case:  # type: ignore[no-untyped-def]
    with database.session() as session:
        cases = session.scalars(select(Case)).all()
        assert len(cases) == 1, f"expected exactly one case, found {len(cases)}"
        return cases[0]


def assert_no_canary_at_rest(database, settings, *canaries: str) -> None:  # type: ignore[no-untyped-def]
    needles = [c.encode() for c in canaries]
    with database.engine.connect() as conn:
        for table in database.engine.dialect.get_table_names(conn):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                cell = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                assert not any(n in cell for n in needles), f"canary in clear in table {table}"
    if database.engine.dialect.name == "sqlite":
        db_file = Path(database.engine.url.database)
        for path in db_file.parent.glob(db_file.name + "*"):
            assert not any(n in path.read_bytes() for n in needles), f"canary in {path.name}"
    for path in Path(settings.blob_dir).rglob("*"):
        if path.is_file():
            assert not any(n in path.read_bytes() for n in needles), f"canary in blob {path}"
