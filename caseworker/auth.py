"""The desk's pages for getting in and out share one blueprint, ``auth``, and these helpers.

The views: caseworker/login.py (log in, log out), caseworker/enrolment.py (a first login sets up
its authenticator) and caseworker/account.py (password, language, e-mail). The rules they apply
are the domain's: cases/staff_login.py, cases/staff_enrolment.py, cases/staff.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from cases import staff_throttle
from cases.keyring import Keyring
from cases.models import Caseworker, Role

from . import session as staff_session
from .context import desk

bp = Blueprint("auth", __name__)


def safe_next(value: str | None) -> str | None:
    """Only a path on this site: never another host, scheme or a protocol-relative URL."""
    if not value or len(value) > 512 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def home_for(worker: Caseworker) -> str:
    if worker.role == Role.ANALYST:
        return url_for("reporting.statistics")
    return url_for("inbox.index")


def refuse_cross_site() -> None:
    """No session exists yet, so no CSRF token: refuse posts a browser says came from elsewhere."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403)


def device_cookie() -> str | None:
    return request.cookies.get(staff_throttle.DEVICE_COOKIE)


def open_session(worker: Caseworker, ring: Keyring, target: str | None) -> BaseResponse:
    if g.get("sid"):
        staff_session.end()  # a new login never inherits an old session id
    cookie = staff_session.start(worker, ring)
    response = redirect(target or home_for(worker))
    staff_session.set_cookie(response, cookie)
    devices = desk().logins.devices
    if not devices.trusted(worker.id, device_cookie()):
        # This browser is now the caseworker's own: it keeps logging in while outsiders are paused.
        response.set_cookie(
            staff_throttle.DEVICE_COOKIE,
            devices.issue(worker.id),
            max_age=staff_throttle.DEVICE_MAX_AGE,
            httponly=True,
            samesite="Strict",
            secure=desk().settings.secure_cookies,
            path="/login",
        )
    return response
