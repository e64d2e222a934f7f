"""A reporter's resend after a lost answer, and a busy server, never cost them a file or a message.

app.js pairs the uploads of an answer with its files by position, and waits out a 503 before
sending again: so a repeat of a report must list its uploads in the order the files were
declared (finished ones included), and a message that meets busy argon2 slots must get 503 +
Retry-After, not the 403 that means "this token opens nothing any more".
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from cases.blobs import FilesystemBlobStore
from cases.db import Database
from cases.intake_keys import current
from cases.models import Case
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file
from intake import context

from .conftest import Installed
from .reporter_helpers import PageFields, b64, json_request, read_case, report_request


def _public(database: Database) -> bytes:
    with database.session() as session:
        return current(session).public_key


def _page(client: FlaskClient) -> PageFields:
    return PageFields.of(client.get("/en/").get_data(as_text=True))


def _put_all(client: FlaskClient, upload: dict[str, Any], chunks: list[bytes]) -> None:
    for index, data in enumerate(chunks):
        sent = client.put(
            f"/api/upload/{upload['id']}/{index}", data=data, headers={"X-Upload-Secret": upload["secret"]}
        )
        assert sent.status_code == 200, sent.get_data(as_text=True)


def test_a_resent_report_lists_its_uploads_in_the_order_of_its_files(
    intake_client: FlaskClient, database: Database, installed: Installed, blobs: FilesystemBlobStore
) -> None:
    client = intake_client
    public = _public(database)
    contents = {f"file-{i}.txt": f"evidence number {i} ".encode() * (i * 4000 + 1) for i in range(4)}
    sealed = [seal_file(public, data, name, "text/plain") for name, data in contents.items()]
    body, headers = report_request(
        _page(client), public, report=b"{}", files=[(manifest, len(chunks)) for manifest, chunks in sealed]
    )
    first = client.post("/en/api/report", json=body, headers=headers).get_json()
    _put_all(client, first["uploads"][1], sealed[1][1])  # one file finished, then the answer was lost

    again = client.post("/en/api/report", json=body, headers=headers).get_json()
    assert again["uploads"] == first["uploads"], "a resend lists every declared upload, in declared order"
    for upload, (_manifest, chunks) in zip(again["uploads"], sealed, strict=True):
        _put_all(client, upload, chunks)  # what app.js does: the i-th upload gets the i-th file

    _report, files = read_case(database, installed.admin_password, _only_case_id(database), blobs)
    assert files == sorted(contents.items()), "every file arrived whole, under its own manifest"


def _only_case_id(database: Database) -> str:
    with database.session() as session:
        (case_id,) = session.scalars(select(Case.id)).all()
        return case_id


def _message(client: FlaskClient, database: Database, token: str, case_id: str) -> TestResponse:
    public = _public(database)
    body, headers = json_request(
        _page(client),
        token=token,
        team=b64(seal(public, Purpose.MESSAGE, b"sealed", context=f"case:{case_id}".encode())),
    )
    return client.post("/en/api/message", json=body, headers=headers)


def test_a_message_meeting_busy_slots_is_told_to_wait_and_goes_through_after(
    intake_client: FlaskClient, database: Database
) -> None:
    client = intake_client
    public = _public(database)
    body, headers = report_request(_page(client), public, report=b"{}")
    token = client.post("/en/api/report", json=body, headers=headers).get_json()["token"]
    case_id = _only_case_id(database)
    slots = context.intake(client.application).slots
    with slots.take(), slots.take():  # every argon2 slot is in use
        busy = _message(client, database, token, case_id)
    assert busy.status_code == 503 and busy.headers["Retry-After"].isdigit()
    assert "busy" in busy.get_json()["error"]
    assert _message(client, database, token, case_id).status_code == 200
