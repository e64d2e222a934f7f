"""Helpers for the reporter-side tests: canaries, test files, honest requests, and reading a case
as staff would."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

# The honest client's (bench/protocol_client.py); ``solve`` is what app.js computes for a JS challenge.
from bench.protocol_client import b64, solve
from cases import keyring, reports
from cases.models import Attachment, Case, Caseworker, Submission
from crypto.envelope import Purpose, open_envelope, seal
from crypto.stream import open_file

CANARY = "CANARY-Zq81-detained-in-Evin"
PHOTO_CANARY = "GPS-CANARY-35.6892N-51.3890E"


EMPTY_REPORT = b'{"v": 1, "answers": {}}'


def _first(html: str, pattern: str) -> str:
    found = re.search(pattern, html)
    assert found is not None, f"no {pattern} in the page"
    return found.group(1)


@dataclass(frozen=True)
class PageFields:
    """What an intake page gives a client for its next POST (the first form's, on pages with several)."""

    csrf: str  # Flask-WTF's token: the form's ``csrf`` field, or a JSON request's X-CSRFToken header
    challenge: str  # the form's hidden challenge, paid by waiting (no JavaScript); JSON routes refuse it
    js_challenge: str  # the page's data-challenge, paid with work (app.js, and honest JSON clients)
    nonce: str  # the report form's submission nonce; "" on pages without one

    @classmethod
    def of(cls, html: str) -> PageFields:
        nonce = re.search(r'name="nonce" value="([^"]*)"', html)
        return cls(
            csrf=_first(html, r'name="csrf" value="([^"]*)"'),
            challenge=_first(html, r'name="challenge" value="([^"]*)"'),
            js_challenge=_first(html, r'data-challenge="([^"]*)"'),
            nonce=nonce.group(1) if nonce else "",
        )

    def _hidden(self) -> dict[str, str]:
        return {"csrf": self.csrf, **({"nonce": self.nonce} if self.nonce else {})}

    def csrf_header(self) -> dict[str, str]:
        """How a JSON request carries the CSRF token: in a header, never in the body."""
        return {"X-CSRFToken": self.csrf}

    def no_js_form(self) -> dict[str, str]:
        """The hidden fields a browser without JavaScript posts: the form's challenge, no solution."""
        return {**self._hidden(), "challenge": self.challenge, "solution": ""}

    def js_form(self) -> dict[str, str]:
        """The hidden fields app.js posts with a form: the page's data-challenge, solved."""
        return {**self._hidden(), "challenge": self.js_challenge, "solution": solve(self.js_challenge)}


def json_request(page: PageFields, **members: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """An honest app.js request to /api/report or /api/message: its body (``members`` with the
    page's data-challenge solved) and its headers (the CSRF token, which is never in the body)."""
    body = {"challenge": page.js_challenge, "solution": solve(page.js_challenge), **members}
    return body, page.csrf_header()


def report_request(
    page: PageFields,
    public_key: bytes,
    *,
    report: bytes = EMPTY_REPORT,
    urgent: bool = False,
    files: Sequence[tuple[bytes, int]] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """The request app.js sends for a report sealed to ``public_key`` declaring ``files``
    (manifest, chunk count), with the page's nonce; see json_request."""
    return json_request(
        page,
        nonce=page.nonce,
        urgent=urgent,
        report=b64(seal(public_key, Purpose.REPORT, report)),
        files=[{"manifest": b64(manifest), "chunks": chunks} for manifest, chunks in files],
    )


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


def read_case(database, password: str, case_id: str, blobs) -> tuple[dict, list[tuple[str, bytes]]]:
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


def only_case(database) -> Case:
    with database.session() as session:
        cases = session.scalars(select(Case)).all()
        assert len(cases) == 1, f"expected exactly one case, found {len(cases)}"
        return cases[0]


def assert_no_canary_at_rest(database, settings, *canaries: str) -> None:
    assert_bytes_not_at_rest(database, Path(settings.blob_dir), [c.encode() for c in canaries])


def assert_bytes_not_at_rest(database, blob_dir: Path, needles: list[bytes]) -> None:
    """None of ``needles`` in any row of any table, the SQLite files or a blob."""
    with database.engine.connect() as conn:
        for table in database.engine.dialect.get_table_names(conn):
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                cell = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                assert not any(n in cell for n in needles), f"in clear in table {table}"
    if database.engine.dialect.name == "sqlite":
        db_file = Path(database.engine.url.database)
        for path in db_file.parent.glob(db_file.name + "*"):
            assert not any(n in path.read_bytes() for n in needles), f"in clear in {path.name}"
    for path in blob_dir.rglob("*"):
        if path.is_file():
            assert not any(n in path.read_bytes() for n in needles), f"in clear in blob {path}"


def token_of(receipt_html: str) -> str:
    """The 20 digits of the token a receipt shows."""
    return re.sub(r"\D", "", _first(receipt_html, r'id="token"[^>]*>(.*?)</p>'))


def details_page(client, lang: str, from_html: str, token: str) -> str:
    """Press "Add details" (on a receipt or a status page) without JavaScript: the details page."""
    form = _first(from_html, r'(?s)(<form[^>]*id="add-details".*?</form>)')
    fields = dict(re.findall(r'name="(csrf|challenge)" value="([^"]*)"', form))
    response = client.post(f"/{lang}/details", data={**fields, "solution": "", "token": token})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def send_details_no_js(client, lang: str, page_html: str, token: str, answers: dict[str, Any]):
    """Post the details page's form as a browser without JavaScript does; the response."""
    form = _first(page_html, r'(?s)(<form id="details".*?</form>)')
    fields = dict(re.findall(r'name="(csrf|challenge)" value="([^"]*)"', form))
    return client.post(f"/{lang}/details/send", data={**fields, "solution": "", "token": token, **answers})


def quick_report_with_details_no_js(
    client, lang: str, quick: dict[str, Any], details: dict[str, Any]
) -> tuple[str, str]:
    """A quick report without JavaScript, then its details from the receipt: (token, status page)."""
    page = PageFields.of(client.get(f"/{lang}/").get_data(as_text=True))
    receipt = client.post(f"/{lang}/report", data={**page.no_js_form(), **quick})
    assert receipt.status_code == 200, receipt.get_data(as_text=True)[:2000]
    token = token_of(receipt.get_data(as_text=True))
    shown = details_page(client, lang, receipt.get_data(as_text=True), token)
    status = send_details_no_js(client, lang, shown, token, details)
    assert status.status_code == 200, status.get_data(as_text=True)[:2000]
    return token, status.get_data(as_text=True)


def merged_answers(database, password: str, case_id: str) -> dict[str, Any]:
    """The answers the desk reads: the report with every details submission merged (cases.details)."""
    from cases import details, reading

    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        keys = keyring.unlock(session, admin, password).private_keys()
        case = session.get_one(Case, case_id)
        merged = details.merged(keys, session, case, reading.open_report(keys, session, case).report)
        assert merged.report is not None
        return dict(merged.report.answers)
