"""The reporter's side under real gunicorn, over real sockets, with broken links and races.

The dev server refuses a short body by itself and handles one request at a time per test, so
these run the shipped server (tests/production.py): a chunk cut mid-body (clean close or reset)
must not be stored, an answer lost after the work was done must leave a state a retry completes,
and copies of one request arriving together must all get the same, working answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from cases.blobs import FilesystemBlobStore
from cases.db import Database
from cases.intake_keys import current
from cases.models import Attachment, Case
from crypto.stream import CHUNK_SIZE, seal_file

from .conftest import Installed
from .production import Mode, Server, cutting_proxy, exchange, gunicorn_app, link_broke
from .reporter_helpers import PageFields, read_case, report_request

pytestmark = pytest.mark.slow

EVIDENCE = bytes(range(256)) * 800  # 204,800 bytes: four chunks, the last one short


@pytest.fixture
def server(env: dict[str, str], installed: Installed) -> Iterator[Server]:
    with gunicorn_app("intake", env, RRI_POW_BITS="0") as running:
        yield running
    assert "Traceback" not in running.log()


@dataclass
class Page:
    cookie: str
    fields: PageFields

    def json_headers(self) -> dict[str, str]:
        """What app.js sends with a JSON request from this page: the cookie and the CSRF header."""
        return {"Content-Type": "application/json", "Cookie": self.cookie, **self.fields.csrf_header()}


def open_page(base: str, path: str = "/en/") -> Page:
    reply = exchange(base, "GET", path)
    assert reply.status == 200
    cookie = reply.headers["Set-Cookie"].split(";", 1)[0]
    return Page(cookie, PageFields.of(reply.body.decode()))


def post_json(base: str, path: str, page: Page, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reply = exchange(base, "POST", path, json.dumps(body).encode(), page.json_headers())
    return reply.status, json.loads(reply.body)


def post_form(base: str, path: str, page: Page, form: dict[str, str]) -> tuple[int, str]:
    reply = exchange(
        base,
        "POST",
        path,
        urlencode(form).encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": page.cookie},
    )
    return reply.status, reply.body.decode()


def report_body(database: Database, page: Page, data: bytes = EVIDENCE) -> tuple[dict[str, Any], list[bytes]]:
    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, data, "evidence.bin", "application/octet-stream")
    body, _headers = report_request(page.fields, public, files=[(manifest, len(chunks))])
    return body, chunks


def put_chunk(base: str, upload: dict[str, Any], index: int, sealed: bytes) -> tuple[int, dict[str, Any]]:
    reply = exchange(base, "PUT", f"/api/upload/{upload['id']}/{index}", sealed, {"X-Upload-Secret": upload["secret"]})
    return reply.status, json.loads(reply.body)


def progress(base: str, upload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reply = exchange(base, "GET", f"/api/upload/{upload['id']}", headers={"X-Upload-Secret": upload["secret"]})
    return reply.status, json.loads(reply.body)


def token_opens_a_case(base: str, token: str) -> bool:
    page = open_page(base, "/en/status")  # sent at once: as app.js does, paying with work
    status, html = post_form(base, "/en/status", page, {**page.fields.js_form(), "token": token})
    return status == 200 and 'class="timeline"' in html


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _file_decrypts(database: Database, installed: Installed, blobs: FilesystemBlobStore, case_id: str) -> bool:
    _report, files = read_case(database, installed.admin_password, case_id, blobs)
    return files == [("evidence.bin", EVIDENCE)]


@pytest.mark.parametrize("mode", ["cut", "reset"])
def test_a_chunk_cut_mid_body_is_not_stored(
    server: Server, database: Database, installed: Installed, blobs: FilesystemBlobStore, mode: Mode
) -> None:
    page = open_page(server.url)
    body, chunks = report_body(database, page)
    status, answer = post_json(server.url, "/en/api/report", page, body)
    assert status == 200, answer
    upload = answer["uploads"][0]
    assert put_chunk(server.url, upload, 0, chunks[0]) == (200, {"complete": False})
    with cutting_proxy(server.port) as proxy:
        proxy.plan(mode, after=40_000)  # the headers and about half of the chunk
        assert link_broke(
            proxy.url, "PUT", f"/api/upload/{upload['id']}/1", chunks[1], {"X-Upload-Secret": upload["secret"]}
        )
    time.sleep(0.5)  # let the worker finish with the broken request
    assert progress(server.url, upload) == (200, {"have": [0], "chunks": 4})
    with database.session() as session:
        assert session.get_one(Attachment, upload["id"]).complete is False
    for index in (1, 2, 3):
        status, done = put_chunk(server.url, upload, index, chunks[index])
        assert status == 200
    assert done == {"complete": True}
    assert _file_decrypts(database, installed, blobs, answer_case(database))


def answer_case(database: Database) -> str:
    with database.session() as session:
        (case_id,) = session.scalars(select(Case.id)).all()
        return case_id


def test_a_chunk_that_does_not_fit_its_place_is_refused(server: Server, database: Database) -> None:
    page = open_page(server.url)
    body, chunks = report_body(database, page)
    upload = post_json(server.url, "/en/api/report", page, body)[1]["uploads"][0]
    assert put_chunk(server.url, upload, 0, chunks[0][:-1])[0] == 400  # a short chunk that is not the last
    assert put_chunk(server.url, upload, 3, chunks[0] + b"x")[0] == 413
    assert progress(server.url, upload) == (200, {"have": [], "chunks": 4})


def test_lost_answers_leave_a_state_that_a_retry_completes(
    server: Server, database: Database, installed: Installed, blobs: FilesystemBlobStore
) -> None:
    page = open_page(server.url)
    body, chunks = report_body(database, page)
    with cutting_proxy(server.port) as proxy:
        proxy.plan("drop_response")
        sent = json.dumps(body).encode()
        assert link_broke(proxy.url, "POST", "/en/api/report", sent, page.json_headers())
        status, answer = post_json(server.url, "/en/api/report", page, body)  # the browser sends it again
        assert status == 200 and answer["token"], answer
        upload = answer["uploads"][0]
        for index in range(3):
            assert put_chunk(server.url, upload, index, chunks[index])[0] == 200
        proxy.plan("drop_response")
        assert link_broke(
            proxy.url, "PUT", f"/api/upload/{upload['id']}/3", chunks[3], {"X-Upload-Secret": upload["secret"]}
        )
    assert put_chunk(server.url, upload, 3, chunks[3]) == (200, {"complete": True})
    assert progress(server.url, upload) == (200, {"have": [0, 1, 2, 3], "chunks": 4})
    assert token_opens_a_case(server.url, answer["token"])
    assert _file_decrypts(database, installed, blobs, answer_case(database))


def test_twenty_copies_of_one_submission_all_carry_its_token(
    server: Server, database: Database, installed: Installed, blobs: FilesystemBlobStore
) -> None:
    page = open_page(server.url)
    body, chunks = report_body(database, page)
    answers = together(20, lambda _i: post_json(server.url, "/en/api/report", page, body))
    assert [status for status, _a in answers] == [200] * 20, answers
    assert len({a["token"] for _s, a in answers}) == 1
    assert len({json.dumps(a["uploads"]) for _s, a in answers}) == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1
    token, upload = answers[0][1]["token"], answers[-1][1]["uploads"][0]
    for index, sealed in enumerate(chunks):
        assert put_chunk(server.url, upload, index, sealed)[0] == 200
    assert token_opens_a_case(server.url, token)
    assert _file_decrypts(database, installed, blobs, answer_case(database))


def test_a_no_js_double_post_shows_one_token_that_opens_the_case(server: Server, database: Database) -> None:
    page = open_page(server.url)
    form = {**page.fields.no_js_form(), "what_happened": "double tap"}
    time.sleep(2.1)  # a form sent without JavaScript must have been open a moment
    answers = together(2, lambda _i: post_form(server.url, "/en/report", page, form))
    tokens = []
    for status, html in answers:
        assert status == 200, html
        shown = re.search(r'id="token"[^>]*>(.*?)</p>', html, re.S)
        assert shown is not None, html
        tokens.append(re.sub(r"\D", "", shown.group(1)))
    assert len(set(tokens)) == 1
    assert token_opens_a_case(server.url, tokens[0])
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_chunks_sent_together_complete_the_file(
    server: Server, database: Database, installed: Installed, blobs: FilesystemBlobStore
) -> None:
    page = open_page(server.url)
    body, chunks = report_body(database, page)
    upload = post_json(server.url, "/en/api/report", page, body)[1]["uploads"][0]
    twice = together(2, lambda _i: put_chunk(server.url, upload, 0, chunks[0]))
    assert [status for status, _a in twice] == [200, 200], twice
    # Every chunk at once, each sent twice.
    results = together(8, lambda i: put_chunk(server.url, upload, i % 4, chunks[i % 4]))
    assert [status for status, _a in results] == [200] * 8, results
    assert any(answer == {"complete": True} for _s, answer in results)
    assert progress(server.url, upload) == (200, {"have": [0, 1, 2, 3], "chunks": 4})
    with database.session() as session:
        assert session.get_one(Attachment, upload["id"]).complete is True
    assert _file_decrypts(database, installed, blobs, answer_case(database))


def test_many_files_sent_at_once_are_all_complete(server: Server, database: Database) -> None:
    """The last two chunks of a file stored together must not each miss the other (issue 7.15)."""
    page = open_page(server.url)
    body, chunks = report_body(database, page, data=EVIDENCE[: 2 * CHUNK_SIZE])
    body["files"] *= 10  # ten files of two chunks: twenty last-chunk races at once
    uploads = post_json(server.url, "/en/api/report", page, body)[1]["uploads"]
    work = [(upload, index) for upload in uploads for index in (0, 1)]
    results = together(len(work), lambda i: put_chunk(server.url, work[i][0], work[i][1], chunks[work[i][1]]))
    assert [status for status, _a in results] == [200] * len(work), results
    with database.session() as session:
        assert session.scalars(select(Attachment.complete)).all() == [True] * 10


def _multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "rri-test-boundary-7d1f"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("mode", ["cut", "reset"])
def test_a_no_js_report_cut_mid_body_stores_nothing_and_a_resend_files_it_once(
    server: Server, database: Database, installed: Installed, blobs: FilesystemBlobStore, mode: Mode
) -> None:
    page = open_page(server.url)
    time.sleep(2.1)  # a form paid with time: the minimum age without JavaScript
    form = {**page.fields.no_js_form(), "what_happened": "cut mid-body"}
    body, content_type = _multipart(form, "evidence.bin", EVIDENCE)
    headers = {"Content-Type": content_type, "Cookie": page.cookie}
    with cutting_proxy(server.port) as proxy:
        proxy.plan(mode, after=len(body) // 2)  # inside the file
        assert link_broke(proxy.url, "POST", "/en/report", body, headers)
    time.sleep(0.5)  # let the worker finish with the broken request
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert not [path for path in blobs.root.rglob("*") if path.is_file()], "a cut report leaves no blob"
    reply = exchange(server.url, "POST", "/en/report", body, headers)  # the browser sends it again
    assert reply.status == 200 and b"token" in reply.body.lower()
    assert _file_decrypts(database, installed, blobs, answer_case(database))
