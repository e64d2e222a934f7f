"""The reporter's and the caseworker's journeys under real gunicorn with the ``deploy/`` settings,
over real sockets: what the development server and the test client hide (short bodies, worker
processes, keys held in one process) is in the path here.

Reporter: form page, proof-of-work, a report sealed here to /intake-key and filed as JSON, the
file's chunks uploaded, the status page opened with the token. Desk: login with password and
TOTP, the inbox, the case, a reply and a stage change; then the reporter sees both.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from bench import protocol_client as client
from cases.config import Settings
from cases.db import Database

from .conftest import Installed
from .production import gunicorn_app
from .reporter_helpers import CANARY, assert_no_canary_at_rest, document

pytestmark = pytest.mark.slow

REPLY = "We have received your report and are looking at it."
EXPLANATION = "A caseworker is checking the details with you."


@pytest.fixture
def servers(env: dict[str, str], installed: Installed) -> Iterator[dict[str, client.HttpTransport]]:
    with gunicorn_app("intake", env) as intake, gunicorn_app("caseworker", env) as desk:
        yield {"intake": client.HttpTransport(intake.url), "desk": client.HttpTransport(desk.url)}
    for server in (intake, desk):
        assert "Traceback" not in server.log(), f"a server logged a traceback:\n{server.log()}"


def desk_post(
    desk: client.HttpTransport, path: str, csrf: str, fields: list[tuple[str, str]], to_login: bool = False
) -> None:
    body, headers = client.form_body([("csrf", csrf), *fields])
    status, answer, _b = desk.send("POST", path, body, headers)
    assert status in (302, 303), f"{path} answered {status}"
    assert ("/login" in answer.get("location", "")) == to_login, f"{path} redirected to {answer.get('location')}"


def test_reporter_and_desk_journeys_under_gunicorn(
    servers: dict[str, client.HttpTransport], installed: Installed, database: Database, settings: Settings
) -> None:
    intake, desk = servers["intake"], servers["desk"]
    evidence = document(150_000)  # three chunks, the last one short

    # The reporter: the form, then the report sealed here and filed as app.js files it.
    status, _headers, form = intake.send("GET", "/en/")
    assert status == 200 and b'name="csrf"' in form
    filed = client.file_report(
        intake,
        "en",
        {"what_happened": CANARY, "danger": "no", "consent_act": "yes"},
        [("statement.txt", "text/plain", evidence)],
    )
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{4}", filed.token)
    upload, chunks = filed.uploads[0], filed.chunks[0]
    assert upload["chunks"] == len(chunks) == 3
    capability = {"X-Upload-Secret": str(upload["secret"])}
    for index, chunk in reversed(list(enumerate(chunks))):  # any order will do
        status, _h, answer = intake.send("PUT", f"/api/upload/{upload['id']}/{index}", chunk, capability)
        assert status == 200, f"chunk {index} answered {status}"
    assert json.loads(answer) == {"complete": True}
    status, _h, progress = intake.send("GET", f"/api/upload/{upload['id']}", headers=capability)
    assert status == 200 and json.loads(progress)["have"] == [0, 1, 2]
    assert "<form" in client.open_status(intake, filed.token)
    assert_no_canary_at_rest(database, settings, CANARY)

    # The caseworker: a first login enrols the authenticator; after logging out, the everyday login
    # with password and TOTP (the next step's code: the one used to enrol is spent).
    secret = client.desk_login(desk, "admin", installed.admin_password, None, time.time)
    status, _h, account = desk.send("GET", "/account")
    assert status == 200
    desk_post(desk, "/logout", client.csrf_in(account.decode()), [], to_login=True)
    client.desk_login(desk, "admin", installed.admin_password, secret, lambda: time.time() + 30)
    status, _h, inbox = desk.send("GET", "/")
    assert status == 200
    case_id = re.search(r'href="/cases/([a-z0-9]+)"', inbox.decode())
    assert case_id, "the new case is in the inbox"
    case_path = f"/cases/{case_id.group(1)}"
    status, _h, case = desk.send("GET", case_path)
    assert status == 200 and CANARY in case.decode()
    download = re.search(rf'href="({case_path}/files/[^"]+)"', case.decode())
    assert download, "the case lists its file"
    status, _h, data = desk.send("GET", download.group(1))
    assert status == 200 and data == evidence
    csrf = client.csrf_in(case.decode())
    desk_post(desk, f"{case_path}/reply", csrf, [("text", REPLY)])
    desk_post(desk, f"{case_path}/status", csrf, [("status", "under_review"), ("explanation", EXPLANATION)])

    # The reporter comes back with the token and reads both.
    page = client.open_status(intake, filed.token)
    assert REPLY in page and EXPLANATION in page
