"""What a submission nonce, a token and an upload secret let a client do, and for how long.

A repeat of a submit (same nonce) gets the first case's token for a while and its live upload
secrets, rewriting nothing; a guessable nonce gets nothing; a file's secret stops working once
the file is complete (nothing is stored again) or the reporter deletes the reply channel.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from cases import filing, intake_writes
from cases.blobs import FilesystemBlobStore, chunk_key
from cases.config import Settings
from cases.db import Database
from cases.intake_keys import current
from cases.models import Attachment, Case
from crypto import receipt
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file

from .reporter_helpers import PageFields, b64, json_request, report_request


@pytest.fixture
def intake_settings(settings: Settings, forms_without_wait: None) -> Settings:
    return dataclasses.replace(settings, pow_bits=0)


def _page(intake_client: FlaskClient, path: str = "/en/") -> PageFields:
    return PageFields.of(intake_client.get(path).get_data(as_text=True))


def _fields(intake_client: FlaskClient, path: str = "/en/") -> dict[str, str]:
    """A page's form as a browser without JavaScript posts it back."""
    return _page(intake_client, path).no_js_form()


def _report(
    intake_client: FlaskClient, database: Database, data: bytes = b"evidence" * 10_000, **changes: Any
) -> tuple[dict[str, Any], dict[str, str], list[bytes]]:
    """The body and headers of an honest JSON report declaring one file (with ``changes``), and
    the file's sealed chunks."""
    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, data, "a.bin", "application/octet-stream")
    body, headers = report_request(_page(intake_client), public, report=b"{}", files=[(manifest, len(chunks))])
    return {**body, **changes}, headers, chunks


def _cases(database: Database) -> int:
    with database.session() as session:
        return session.scalars(select(func.count()).select_from(Case)).one()


def _put(intake_client: FlaskClient, upload: dict[str, Any], index: int, data: bytes) -> TestResponse:
    return intake_client.put(
        f"/api/upload/{upload['id']}/{index}", data=data, headers={"X-Upload-Secret": upload["secret"]}
    )


@pytest.mark.parametrize("nonce", ["", "short", "a" * 21, "a" * 65, "é" * 24, "a+b/" * 6])
def test_a_guessable_or_malformed_nonce_is_refused(intake_client: FlaskClient, database: Database, nonce: str) -> None:
    body, headers, _chunks = _report(intake_client, database, nonce=nonce)
    assert intake_client.post("/en/api/report", json=body, headers=headers).status_code == 400
    fields = _fields(intake_client)
    response = intake_client.post("/en/report", data={**fields, "nonce": nonce, "what_happened": "x"})
    assert response.status_code == 400
    assert _cases(database) == 0


def test_a_repeat_gets_the_same_token_and_live_secrets_and_rewrites_nothing(
    intake_client: FlaskClient, database: Database
) -> None:
    body, headers, chunks = _report(intake_client, database)
    first = intake_client.post("/en/api/report", json=body, headers=headers).get_json()
    assert _put(intake_client, first["uploads"][0], 0, chunks[0]).status_code == 200
    for _ in range(3):
        again = intake_client.post("/en/api/report", json={**body, "urgent": True}, headers=headers).get_json()
        assert again["token"] == first["token"] and again["uploads"] == first["uploads"]
    # The first answer's secret still works: the repeats revoked nothing.
    assert _put(intake_client, first["uploads"][0], 1, chunks[1]).get_json() == {"complete": True}
    assert _cases(database) == 1
    with database.session() as session:
        assert session.scalar(select(Case)).urgent is False


def test_a_repeat_shows_the_token_only_for_a_while(
    intake_client: FlaskClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, headers, _chunks = _report(intake_client, database)
    assert intake_client.post("/en/api/report", json=body, headers=headers).get_json()["token"]
    later = time.time() + receipt.SHOW_AGAIN_SECONDS + 1
    monkeypatch.setattr("crypto.receipt.time.time", lambda: later)
    again = intake_client.post("/en/api/report", json=body, headers=headers).get_json()
    assert again["token"] is None
    assert "already received" in again["receipt"]  # a submit with files carries the receipt


def test_a_complete_file_is_never_rewritten(
    intake_client: FlaskClient, database: Database, blobs: FilesystemBlobStore
) -> None:
    body, headers, chunks = _report(intake_client, database, data=b"short")
    upload = intake_client.post("/en/api/report", json=body, headers=headers).get_json()["uploads"][0]
    assert _put(intake_client, upload, 0, chunks[0]).get_json() == {"complete": True}
    other = bytes(len(chunks[0]))
    assert _put(intake_client, upload, 0, other).get_json() == {"complete": True}
    assert blobs.get(chunk_key(upload["id"], 0)) == chunks[0]


def test_deleting_the_reply_channel_ends_every_upload_capability(
    intake_client: FlaskClient, database: Database
) -> None:
    body, headers, chunks = _report(intake_client, database)
    answer = intake_client.post("/en/api/report", json=body, headers=headers).get_json()
    upload = answer["uploads"][0]
    assert _put(intake_client, upload, 0, chunks[0]).status_code == 200
    fields = _fields(intake_client, "/en/status")
    deleted = intake_client.post("/en/status/delete", data={**fields, "token": answer["token"], "confirm": "1"})
    assert deleted.status_code == 200
    assert _put(intake_client, upload, 1, chunks[1]).status_code == 404
    assert (
        intake_client.get(f"/api/upload/{upload['id']}", headers={"X-Upload-Secret": upload["secret"]}).status_code
        == 404
    )


def test_the_last_two_chunks_recorded_together_complete_the_file(
    intake_client: FlaskClient, database: Database
) -> None:
    """Each chunk's transaction counts the chunks present; without a lock on the file, two
    finishing together each miss the other's uncommitted row and neither marks it complete."""
    body, headers, chunks = _report(intake_client, database)
    upload = intake_client.post("/en/api/report", json=body, headers=headers).get_json()["uploads"][0]
    results: list[bool] = []

    def second() -> None:
        with database.session() as other:
            results.append(intake_writes.record_chunk(other, upload["id"], upload["secret"], 1, len(chunks[1])))

    with database.session() as first:
        assert intake_writes.record_chunk(first, upload["id"], upload["secret"], 0, len(chunks[0])) is False
        racing = threading.Thread(target=second)
        racing.start()
        racing.join(timeout=0.5)
        assert racing.is_alive(), "the second chunk must wait for the first one's transaction"
    racing.join(timeout=10)
    assert results == [True]
    with database.session() as session:
        assert session.scalar(select(Attachment.complete)) is True


@pytest.mark.parametrize("route", ["/en/api/message", "/en/status/message", "/en/status/delete"])
def test_a_channel_deleted_while_a_request_holds_its_token_gets_a_plain_answer(
    intake_client: FlaskClient, database: Database, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """The reporter deletes the channel (another tab, another device) between this request
    opening the case with the token and writing to it: that is "the token opens nothing now"."""
    body, headers, _chunks = _report(intake_client, database)
    token = intake_client.post("/en/api/report", json=body, headers=headers).get_json()["token"]
    opening = filing.Filing.open_case

    def opened_then_deleted(self: filing.Filing, token_text: str) -> filing.Reporter:
        reporter = opening(self, token_text)
        with database.session() as session:
            assert intake_writes.delete_channel(session, reporter.lookup)
        return reporter

    monkeypatch.setattr(filing.Filing, "open_case", opened_then_deleted)
    with database.session() as session:
        public = current(session).public_key
    if route == "/en/api/message":
        page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
        message, headers = json_request(page, token=token, team=b64(seal(public, Purpose.MESSAGE, b"more")))
        answer = intake_client.post(route, json=message, headers=headers)
        assert answer.status_code == 403 and "error" in answer.get_json()
    else:
        fields = {**_fields(intake_client, "/en/status"), "token": token, "message": "more", "confirm": "1"}
        answer = intake_client.post(route, data=fields)
        assert answer.status_code == 404, answer.status_code
        assert "No report matches this token" in answer.get_data(as_text=True)
