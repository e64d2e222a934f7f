"""Helpers for caseworker-desk tests: an app, and a logged-in client without the login UI.

Tests of the login form itself (password, TOTP, throttling) drive the real pages; every other
desk test logs in here, through the same session machinery the login page uses.
"""

from __future__ import annotations

from sqlalchemy import select

import caseworker
from cases import keyring
from cases.models import Caseworker
from caseworker import session as staff_session

from .conftest import ADMIN_PASSWORD


def desk_app(settings, database):  # type: ignore[no-untyped-def]
    app = caseworker.create_app(settings, database)
    app.testing = True
    return app


def logged_in_client(app, database, username: str = "admin", password: str = ADMIN_PASSWORD):  # type: ignore[no-untyped-def]
    """A test client holding a real session whose keys were unlocked with the password."""
    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
        ring = keyring.unlock(session, worker, password)
        session.expunge(worker)
    client = app.test_client()
    with app.test_request_context():
        cookie = staff_session.start(worker, ring)
    client.set_cookie(staff_session.COOKIE, cookie)
    return client


def csrf_of(client, app, path: str = "/") -> str:  # type: ignore[no-untyped-def]
    """The CSRF value for the client's session (as the pages embed it)."""
    import re

    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, f"no CSRF field on {path}"
    return found.group(1)
