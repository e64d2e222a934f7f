"""Desk sessions at their edges: keys of abandoned sessions leave memory, a session ending
under a request logs it out instead of failing, malformed CSRF values and hostile login fields
get 400/401 and never a 500, and the anonymous /health tells nothing about the cases."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import delete, select

from cases import staff_sessions
from cases.db import Database
from cases.keyring import Keyring
from cases.models import SealedIn, StaffSession
from caseworker import session as staff_session

from .desk_helpers import csrf_of, logged_in_client
from .factories import file_case


@pytest.fixture
def desk_app(desk_app: Flask) -> Flask:
    desk_app.testing = False  # errors become real 500s
    return desk_app


def _sid(database: Database) -> str:
    with database.session() as session:
        return session.scalars(select(StaffSession.id)).one()


def test_keys_of_abandoned_sessions_are_swept_from_memory(desk_app: Flask, database: Database) -> None:
    vault = desk_app.extensions["rri.desk"].vault
    logged_in_client(desk_app, database)
    sid = _sid(database)
    ring = vault.get(sid)
    assert ring is not None and ring.intake
    stop = staff_session.start_sweeper(desk_app, every=0.05)
    try:
        time.sleep(0.2)
        assert vault.get(sid) is ring, "a live session keeps its keys"
        # Nobody comes back: the session idles past its timeout.
        with database.session() as session:
            idle = dt.datetime.now(dt.UTC) - staff_sessions.IDLE - dt.timedelta(seconds=5)
            session.get_one(StaffSession, sid).last_seen_at = idle
        vault._rings[sid].seen = idle
        deadline = time.monotonic() + 5
        while (vault.get(sid) is not None or _row_left(database, sid)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert vault.get(sid) is None and ring.intake == {}, "the keys were forgotten"
    assert not _row_left(database, sid), "and the session's row deleted"


def _row_left(database: Database, sid: str) -> bool:
    with database.session() as session:
        return session.get(StaffSession, sid) is not None


def test_the_absolute_timeout_sweeps_a_busy_session_too(desk_app: Flask, database: Database) -> None:
    vault = desk_app.extensions["rri.desk"].vault
    logged_in_client(desk_app, database)
    sid = _sid(database)
    later = dt.datetime.now(dt.UTC) + staff_sessions.ABSOLUTE + dt.timedelta(seconds=1)
    vault._rings[sid].seen = later  # in use a moment ago, but open for too long
    assert vault.purge(later) == 1 and vault.get(sid) is None


@pytest.mark.skipif(
    os.environ.get("RRI_TEST_DB", "sqlite") == "sqlite",
    reason="SQLite runs one transaction at a time (BEGIN IMMEDIATE): a logout cannot land inside a request",
)
def test_a_session_ending_under_a_request_counts_as_logged_out(
    desk_app: Flask, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = logged_in_client(desk_app, database)
    assert client.get("/account").status_code == 200
    vault = desk_app.extensions["rri.desk"].vault

    def ended_meanwhile(real: Callable[[str], Keyring | None]) -> Callable[[str], Keyring | None]:
        def wrapper(sid: str) -> Keyring | None:
            # Logout in another request, between this request reading its row and using it.
            with database.session() as session:
                session.execute(delete(StaffSession).where(StaffSession.id == sid))
            return real(sid)

        return wrapper

    for name in ("get", "touch"):
        if hasattr(vault, name):
            monkeypatch.setattr(vault, name, ended_meanwhile(getattr(vault, name)))
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


MALFORMED = [
    "",
    "é",
    "ü" * 40,
    "\x00",
    "not.a.token",
    "a" * 10_000,
    "1",
    "IjEi.Zz.Zz",
]


def test_malformed_csrf_values_get_400(desk_app: Flask, database: Database) -> None:
    client = logged_in_client(desk_app, database)
    good = csrf_of(client, desk_app, "/account")
    other = csrf_of(logged_in_client(desk_app, database), desk_app, "/account")
    for value in [*MALFORMED, other]:
        response = client.post("/account/preferences", data={"csrf": value, "language": "en"})
        assert response.status_code == 400, repr(value[:20])
    # Raw bodies the test client would not encode itself: invalid UTF-8, a lone surrogate, twice.
    for body in (b"csrf=%ff%fe&language=en", b"csrf=%ed%a0%80&language=en", b"csrf=a&csrf=b&language=en"):
        response = client.post("/account/preferences", data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, body
    for header in ("é", "\x7f", "a" * 5000):
        response = client.post(
            "/account/preferences", data={"language": "en"}, headers={"X-CSRFToken": header.encode().decode("latin-1")}
        )
        assert response.status_code == 400, repr(header[:10])
    assert client.post("/account/preferences", data={"csrf": good, "language": "en"}).status_code == 200
    assert (
        client.post("/account/preferences", data={"language": "en"}, headers={"X-CSRFToken": good}).status_code == 200
    )


HOSTILE_FIELDS = [
    {"username": "ad\x00min", "password": "x"},
    {"username": "admin", "password": "pass\x00word", "code": "12\x003456"},
    {"username": "a" * 100_000, "password": "x"},
    {"username": "admin", "password": "x" * 100_000},
    {"username": "²³", "password": "x", "code": "１２３４５６"},
    {"username": "admin", "password": "x", "code": "²²²²²²"},
    {"username": "", "password": ""},
    {},
]


def test_hostile_login_fields_never_give_a_server_error(desk_app: Flask) -> None:
    client = desk_app.test_client()
    for fields in HOSTILE_FIELDS:
        response = client.post("/login", data=fields)
        assert response.status_code == 401, {k: v[:12] for k, v in fields.items()}
    for body in (b"username=%ff%00&password=%ed%a0%80", b"username=a&username=b&password=c", b"%%%&&&==="):
        response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 401, body
    # A JSON body is never parsed as the form: no fields, so a plain failed login.
    assert client.post("/login", data=b"\x00" * 100, content_type="application/json").status_code == 401
    enrol = client.post("/login/enrol", data={"code": "\x00" * 10})
    assert enrol.status_code == 400


def test_health_says_nothing_about_the_cases(desk_app: Flask, database: Database) -> None:
    with database.session() as session:
        file_case(session, answers={}, sealed_in=SealedIn.SERVER)
    body = desk_app.test_client().get("/health").get_json()
    assert body == {"status": "ok", "app": "caseworker"}


@pytest.mark.parametrize("path", ["/account/password", "/account/preferences", "/login"])
def test_a_json_body_to_a_desk_form_is_never_parsed(desk_app: Flask, database: Database, path: str) -> None:
    """Flask-WTF reads a JSON body as form data, unbounded: nesting deep enough is a RecursionError
    and a list an unpacking error. The desk's forms read the posted form only (found by fuzzing)."""
    client = logged_in_client(desk_app, database)
    token = csrf_of(client, desk_app, "/account")
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[1, 2]", b'{"a": [[1]]}'):
        response = client.post(path, data=body, content_type="application/json", headers={"X-CSRFToken": token})
        assert response.status_code < 500, (path, body[:10])
