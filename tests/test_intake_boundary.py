"""The intake's boundary: every malformed input is a 400 with a plain message, never a 5xx.

Each test below is one cause the audit's fuzzer found (issue 7, item 13) or its class, sent
through the real app; a hypothesis test then throws hostile JSON structures and hostile form
fields at every intake POST route.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import socket
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.test import TestResponse

import caseworker
import intake
from cases import proof_of_work as pow_module
from cases.config import Settings
from cases.db import Database
from cases.intake_keys import current
from cases.models import Case
from intake import context

from .conftest import Installed
from .live import serve
from .reporter_helpers import PageFields, report_request
from .reporter_helpers import solve as _solve

PLAIN = re.compile(r"(try again|send again|wait|token|digits|typo|too long|larger|answer|not allowed)", re.I)
POST_ROUTES = [
    "/en/report",
    "/en/status",
    "/en/status/message",
    "/en/status/delete",
    "/en/api/report",
    "/en/api/message",
]


@pytest.fixture
def intake_settings(settings: Settings, forms_without_wait: None) -> Settings:
    return dataclasses.replace(settings, pow_bits=2)


def _page(intake_client: FlaskClient, path: str = "/en/") -> dict[str, str]:
    html = intake_client.get(path).get_data(as_text=True)
    found = dict(re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', html))
    js_challenge = re.search(r'data-challenge="([^"]*)"', html)
    assert js_challenge is not None
    found["js_challenge"] = js_challenge.group(1)
    return found


def _report_body(
    intake_client: FlaskClient, database: Database, **changes: object
) -> tuple[dict[str, object], dict[str, str]]:
    page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
    with database.session() as session:
        public = current(session).public_key
    body, headers = report_request(page, public, report=b'{"v":1,"answers":{}}', urgent=True)
    return body | changes, headers


def _cases(database: Database) -> int:
    with database.session() as session:
        return session.scalars(select(func.count()).select_from(Case)).one()


def _assert_plain_refusal(response: TestResponse, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    text = response.get_json()["error"] if response.is_json else response.get_data(as_text=True)
    assert PLAIN.search(text), text[:300]
    assert "Traceback" not in text


# --- item 13, one cause at a time -------------------------------------------------------------


def test_a_non_ascii_csrf_value_is_a_plain_refusal(intake_client: FlaskClient, database: Database) -> None:
    page = _page(intake_client)
    form = intake_client.post(
        "/en/report", data={"csrf": "é" * 20, "what_happened": "x", "challenge": page["challenge"]}
    )
    _assert_plain_refusal(form)
    body, _headers = _report_body(intake_client, database)
    _assert_plain_refusal(intake_client.post("/en/api/report", json=body, headers={"X-CSRFToken": "ü\u2603"}))
    assert _cases(database) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"challenge": 1},
        {"solution": 7},
        {"csrf": 1},
        {"report": 12},
        {"urgent": "yes"},  # item 12: a non-boolean urgent is refused, not filed as "not urgent"
        {"urgent": 1},
        {"nonce": ["a"]},
        {"nonce": "short"},
        {"files": [{"manifest": "AAAA", "chunks": "2"}]},
        {"files": [{"manifest": 5, "chunks": 1}]},
        {"files": {"manifest": "AAAA"}},
        {"files": [{"manifest": "AAAA", "chunks": 10**15}]},  # beyond any column
        {"files": [{"manifest": "AAAA", "chunks": -1}]},
        {"report": "not base64!"},
    ],
)
def test_members_of_the_wrong_type_or_range_are_refused(
    intake_client: FlaskClient, database: Database, changes: dict[str, object]
) -> None:
    body, headers = _report_body(intake_client, database, **changes)
    _assert_plain_refusal(intake_client.post("/en/api/report", json=body, headers=headers))
    assert _cases(database) == 0


def test_a_boolean_urgent_is_filed_as_sent(intake_client: FlaskClient, database: Database) -> None:
    body, headers = _report_body(intake_client, database, urgent=True)
    assert intake_client.post("/en/api/report", json=body, headers=headers).status_code == 200
    with database.session() as session:
        assert session.scalars(select(Case.urgent)).all() == [True]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"report": "\\ud800"}',  # a lone surrogate
        b'{"nonce": "' + b"a" * 24 + b'", "nonce": "' + b"b" * 24 + b'"}',  # a duplicate key
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b'{"files": [{"chunks": 1e999}]}',  # a number beyond float
        b'{"files": [{"chunks": NaN}]}',
        b"\xff\xfe not UTF-8",
        b"",
    ],
)
@pytest.mark.parametrize("route", ["/en/api/report", "/en/api/message"])
def test_hostile_json_structure_is_refused(
    intake_client: FlaskClient, database: Database, raw: bytes, route: str
) -> None:
    _body, headers = _report_body(intake_client, database)
    response = intake_client.post(route, data=raw, headers={**headers, "Content-Type": "application/json"})
    _assert_plain_refusal(response)


def test_unicode_digits_are_not_a_solution(intake_client: FlaskClient, database: Database) -> None:
    body, headers = _report_body(intake_client, database, solution="²")
    _assert_plain_refusal(intake_client.post("/en/api/report", json=body, headers=headers))
    page = _page(intake_client, "/en/status")
    form = {"csrf": page["csrf"], "challenge": page["js_challenge"], "solution": "١²٣", "token": "1234"}
    _assert_plain_refusal(intake_client.post("/en/status", data=form))


@pytest.mark.parametrize(
    "path",
    ["/api/upload/%00/0", "/api/upload/x%00y", "/en%00/status", "/en/?q=%00", "/en/?q=%1b%5B2J", "/%7f"],
)
def test_control_characters_in_the_address_are_refused_by_both_apps(
    settings: Settings, database: Database, installed: Installed, path: str
) -> None:
    for app in (intake.create_app(settings, database), caseworker.create_app(settings, database)):
        for method in ("GET", "PUT", "POST"):
            response = app.test_client().open(path, method=method, data=b"x")
            assert response.status_code == 400, (path, method)
            assert b"not allowed" in response.data


def test_nul_bytes_in_form_fields_are_a_plain_answer(intake_client: FlaskClient) -> None:
    page = _page(intake_client, "/en/status")
    response = intake_client.post(
        "/en/status", data={"csrf": page["csrf"], "challenge": page["challenge"], "token": "12\x0034" * 4}
    )
    assert response.status_code in (400, 404)
    assert "20 digits" in response.get_data(as_text=True)


# --- hostile structure and fields on every POST route (hypothesis) ---------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "²", "\x00", "é" * 30, "A" * 5000, "0" * 30]),
)


_json: st.SearchStrategy[object] = st.deferred(
    lambda: _scalars | st.lists(_json, max_size=4) | st.dictionaries(st.text(max_size=10), _json, max_size=4)
)
_members = st.sampled_from(["challenge", "solution", "csrf", "nonce", "urgent", "report", "files", "token", "team"])
_bodies = st.one_of(_json, st.dictionaries(_members, _json, max_size=9))
_field_values = st.one_of(st.text(max_size=60), st.sampled_from(["\x00", "\ud800", "²", "é", "1" * 70, "yes"]))
_form = st.dictionaries(
    st.sampled_from(["csrf", "challenge", "solution", "token", "nonce", "what_happened", "danger", "act_types"]),
    st.one_of(_field_values, st.lists(_field_values, max_size=3)),
    max_size=8,
)

_hypothesis = hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _encode(document: object) -> bytes:
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


@_hypothesis
@given(document=_bodies, route=st.sampled_from(POST_ROUTES), with_csrf=st.booleans())
def test_hostile_json_never_gets_a_server_error(
    intake_client: FlaskClient, document: object, route: str, with_csrf: bool
) -> None:
    page = _page(intake_client)
    headers = {"Content-Type": "application/json", **({"X-CSRFToken": page["csrf"]} if with_csrf else {})}
    response = intake_client.post(route, data=_encode(document), headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.status_code in (400, 403, 404, 413)
    text = response.get_json()["error"] if response.is_json else response.get_data(as_text=True)
    assert text.strip() and "Traceback" not in text


@_hypothesis
@given(fields=_form, route=st.sampled_from(POST_ROUTES), with_csrf=st.booleans())
def test_hostile_form_fields_never_get_a_server_error(
    intake_client: FlaskClient, fields: dict[str, Any], route: str, with_csrf: bool
) -> None:
    page = _page(intake_client)
    data = {**fields, **({"csrf": page["csrf"]} if with_csrf else {})}
    data = {
        k: [v.encode("utf-8", "surrogatepass") for v in vs] if isinstance(vs, list) else vs for k, vs in data.items()
    }
    data = {k: v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v for k, v in data.items()}
    response = intake_client.post(route, data=data)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    text = response.get_json()["error"] if response.is_json else response.get_data(as_text=True)
    assert text.strip() and "Traceback" not in text


# --- proof-of-work (item 7) ------------------------------------------------------------------


def test_json_routes_need_a_solved_js_challenge(intake_client: FlaskClient, database: Database) -> None:
    page = _page(intake_client)
    body, headers = _report_body(intake_client, database)
    without = {k: v for k, v in body.items() if k != "solution"}
    _assert_plain_refusal(intake_client.post("/en/api/report", json=without, headers=headers))
    # The form's challenge (paid by waiting) is no way round the work, solved or not.
    for solution in (None, _solve(page["challenge"])):
        cheap = {**body, "challenge": page["challenge"], "solution": solution}
        _assert_plain_refusal(intake_client.post("/en/api/report", json=cheap, headers=headers))
    assert _cases(database) == 0
    assert intake_client.post("/en/api/report", json=body, headers=headers).status_code == 200


def test_a_no_js_post_faster_than_the_minimum_age_is_refused(
    settings: Settings, database: Database, installed: Installed
) -> None:
    client = intake.create_app(settings, database).test_client()
    page = _page(client)
    response = client.post("/en/report", data={**page, "what_happened": "They came at night."})
    _assert_plain_refusal(response)
    assert "They came at night." in response.get_data(as_text=True)  # the answers are kept
    assert _cases(database) == 0


def test_a_spent_challenge_is_refused_by_another_worker(
    settings: Settings, database: Database, installed: Installed
) -> None:
    first = intake.create_app(dataclasses.replace(settings, pow_bits=2), database).test_client()
    second = intake.create_app(dataclasses.replace(settings, pow_bits=2), database).test_client()
    body, headers = _report_body(first, database)
    assert first.post("/en/api/report", json=body, headers=headers).status_code == 200
    _other, second_headers = _report_body(second, database)
    replay = {**body, "nonce": _other["nonce"]}
    _assert_plain_refusal(second.post("/en/api/report", json=replay, headers=second_headers))
    assert _cases(database) == 1


def test_free_or_failed_requests_do_not_raise_the_js_price(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)
    work = pow_module.ProofOfWork(b"k" * 32, base_bits=2, database=database)
    for _ in range(pow_module.CALM_REQUESTS * 4):
        work.verify(work.challenge(pow_module.Path.FORM), None, form_allowed=True)
        with pytest.raises(pow_module.PowError):
            work.verify(work.challenge(pow_module.Path.JS), None, form_allowed=True)
    assert work.current_bits() == 2
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 2)
    assert work.form_seconds() > 2  # the form path's own load raised the form path's price


def test_expired_spent_challenges_are_purged(database: Database) -> None:
    import datetime as dt

    from cases.models import SpentChallenge

    with database.session() as session:
        session.add(SpentChallenge(digest=b"\x01" * 32, expires_on=dt.date(2000, 1, 1)))
    work = pow_module.ProofOfWork(b"k" * 32, base_bits=0, database=database)
    challenge = work.challenge()
    work.verify(challenge, _solve(challenge), form_allowed=False)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(SpentChallenge)) == 1


# --- body limits (item 10) -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/en/status"), ("POST", "/en/api/report"), ("POST", "/en/api/message"), ("PUT", "/api/upload/x/0")],
)
def test_an_oversized_body_is_refused_before_it_is_read(intake_app: Flask, method: str, path: str) -> None:
    with serve(intake_app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            started = time.monotonic()
            conn.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {100 * 1024 * 1024}\r\n\r\ntoken=1".encode()
            )
            answer = conn.recv(4096)
            assert time.monotonic() - started < 2
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# --- the no-JS upload path seals while reading, within a bound (item 10) ---------------------


def test_no_js_files_are_sealed_as_they_arrive_and_open_intact(
    intake_app: Flask, intake_client: FlaskClient, database: Database, installed: Installed
) -> None:
    from cases.sealing import Budget, SealingFile

    from .reporter_helpers import PHOTO_CANARY, document, png_with_metadata, read_case

    stream = SealingFile("a.txt", "text/plain", Budget(10**9, 10**9, 10))
    for _ in range(40):
        stream.write(b"x" * 10_000)
        assert stream.plaintext_held <= 64 * 1024  # never more than one chunk of plaintext
    page = _page(intake_client)
    files = [(io.BytesIO(document(150_000)), "statement.txt"), (io.BytesIO(png_with_metadata()), "photo.png")]
    response = intake_client.post(
        "/en/report",
        data={**page, "what_happened": "They came at night.", "files": files},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    with database.session() as session:
        case_id = session.scalars(select(Case.id)).one()
    _report, opened = read_case(database, installed.admin_password, case_id, context.intake(intake_app).blobs)
    assert dict(opened)["statement.txt"] == document(150_000)
    assert PHOTO_CANARY.encode() not in dict(opened)["photo.png"]


def test_no_js_uploads_beyond_the_sealing_bound_get_a_retry_page_with_the_answers(
    intake_app: Flask, intake_client: FlaskClient, database: Database
) -> None:
    slots = context.intake(intake_app).sealing
    page = _page(intake_client)
    while slots.acquire(blocking=False):  # every sealing slot is busy
        pass
    data = {**page, "what_happened": "They came at night.", "files": (io.BytesIO(b"evidence"), "a.txt")}
    response = intake_client.post("/en/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
    html = response.get_data(as_text=True)
    assert "very busy" in html and "They came at night." in html
    assert _cases(database) == 0


def test_a_choice_not_offered_is_explained_on_the_no_js_form(intake_client: FlaskClient, database: Database) -> None:
    page = _page(intake_client)
    data = {**page, "what_happened": "They came at night.", "danger": "maybe", "act_types": ["threats", "x\x00"]}
    response = intake_client.post("/en/report", data=data)
    _assert_plain_refusal(response)
    html = response.get_data(as_text=True)
    assert "Please choose one of the answers shown." in html and "They came at night." in html
    assert _cases(database) == 0
