"""Helpers for caseworker-desk tests: an app, a logged-in client without the login UI, a clock
for TOTP, and reports filed as the intake files them.

Tests of the login form itself (password, TOTP, throttling) drive the real pages; every other
desk test logs in here, through the same session machinery the login page uses. A test module
imports ``desk_fixture`` and ``clock_fixture`` to get the ``app`` and ``clock`` fixtures.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import caseworker
from cases import keyring, reports, totp
from cases.intake_keys import current
from cases.models import Case, Caseworker, SealedIn
from caseworker import session as staff_session
from crypto.envelope import Purpose, seal
from crypto.keys import KeyPair

from .conftest import ADMIN_PASSWORD


class FakeTime:
    """Stands in for the ``time`` module inside cases.totp, so tests pick the time step."""

    def __init__(self) -> None:
        import time

        self.now = float(int(time.time()) // totp.STEP * totp.STEP + 5)  # well inside a step

    def time(self) -> float:
        return self.now

    def advance(self, steps: int = 1) -> None:
        self.now += steps * totp.STEP


def desk_app(settings, database):  # type: ignore[no-untyped-def]
    app = caseworker.create_app(settings, database)
    app.testing = True
    return app


# Fixtures named apart from their functions, so a test module can import them without its
# ``clock`` and ``app`` arguments shadowing the import.
@pytest.fixture(name="clock")
def clock_fixture(monkeypatch) -> FakeTime:  # type: ignore[no-untyped-def]
    fake = FakeTime()
    monkeypatch.setattr(totp, "time", fake)
    return fake


@pytest.fixture(name="app")
def desk_fixture(settings, database, installed):  # type: ignore[no-untyped-def]
    return desk_app(settings, database)


def file_report(session: Session, report: dict[str, Any], **options: Any) -> Case:
    """File ``report`` as the intake does: sealed on the server to the current intake key, with a
    reply channel. ``options`` go to ``reports.file_report`` (e.g. ``urgent``)."""
    return reports.file_report(
        session,
        envelope=seal(current(session).public_key, Purpose.REPORT, json.dumps(report).encode()),
        sealed_in=SealedIn.SERVER,
        token_lookup=os.urandom(32),
        reporter_public_key=KeyPair.generate().public,
        **options,
    ).case


def session_cookie(
    app, database, username: str = "admin", password: str = ADMIN_PASSWORD, host: str = "localhost"
) -> str:  # type: ignore[no-untyped-def]
    """The cookie of a real session whose keys were unlocked with the password, opened on
    ``host`` (the test client's default; a session works only on the host name it was opened on)."""
    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
        ring = keyring.unlock(session, worker, password)
        session.expunge(worker)
    with app.test_request_context(base_url=f"http://{host}/"):
        return staff_session.start(worker, ring)


def logged_in_client(app, database, username: str = "admin", password: str = ADMIN_PASSWORD):  # type: ignore[no-untyped-def]
    """A test client holding such a session."""
    client = app.test_client()
    client.set_cookie(staff_session.COOKIE, session_cookie(app, database, username, password))
    return client


def csrf_of(client, app, path: str = "/") -> str:  # type: ignore[no-untyped-def]
    """The CSRF value for the client's session (as the pages embed it)."""
    import re

    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no CSRF field on {path}"
    return found.group(1)
