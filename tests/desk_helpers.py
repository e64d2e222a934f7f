"""Helpers for caseworker-desk tests: an app, a logged-in client without the login UI, a clock
for TOTP. The fixtures built on them (``desk_app``, ``desk_client``, ``clock``) are in conftest.

Tests of the login form itself (password, TOTP, throttling) drive the real pages; every other
desk test logs in here, through the same session machinery the login page uses.
"""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import caseworker
from cases import keyring, totp
from cases.config import Settings
from cases.db import Database
from cases.models import Caseworker
from caseworker import session as staff_session

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


def make_desk_app(settings: Settings, database: Database) -> Flask:
    """The desk app in testing mode (errors raise in the test instead of becoming 500s)."""
    app = caseworker.create_app(settings, database)
    app.testing = True
    return app


def session_cookie(
    app: Flask, database: Database, username: str = "admin", password: str = ADMIN_PASSWORD, host: str = "localhost"
) -> str:
    """The cookie of a real session whose keys were unlocked with the password, opened on
    ``host`` (the test client's default; a session works only on the host name it was opened on)."""
    with database.session() as session:
        worker = session.scalars(select(Caseworker).where(Caseworker.username == username)).one()
        ring = keyring.unlock(session, worker, password)
        session.expunge(worker)
    with app.test_request_context(base_url=f"http://{host}/"):
        return staff_session.start(worker, ring)


def logged_in_client(
    app: Flask, database: Database, username: str = "admin", password: str = ADMIN_PASSWORD
) -> FlaskClient:
    """A test client holding such a session."""
    client = app.test_client()
    client.set_cookie(staff_session.COOKIE, session_cookie(app, database, username, password))
    return client


def csrf_of(client: FlaskClient, app: Flask, path: str = "/") -> str:
    """The CSRF value for the client's session (as the pages embed it)."""
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no CSRF field on {path}"
    return found.group(1)
