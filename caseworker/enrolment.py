"""A first login sets up its authenticator: the pages around cases/staff_enrolment.py.

The pending enrolment is named by a one-time cookie, scoped to /login and SameSite=Strict; no
session exists until the first code is confirmed.
"""

from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from cases import totp
from cases.keyring import Keyring
from cases.models import Caseworker
from cases.staff_enrolment import ENROL_TTL, Enrolment, Expired, WrongCode, confirm

from .auth import bp, open_session, refuse_cross_site
from .auth_forms import CodeForm
from .context import desk

ENROL_COOKIE = "desk_enrol"


def begin(worker: Caseworker, ring: Keyring, target: str | None) -> BaseResponse:
    token = desk().logins.enrolments.begin(worker, ring, target)
    response = redirect(url_for("auth.enrol"))
    response.set_cookie(
        ENROL_COOKIE,
        token,
        max_age=int(ENROL_TTL.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=desk().settings.secure_cookies,
        path="/login",
    )
    return response


def _pending() -> tuple[str, Enrolment] | None:
    token = request.cookies.get(ENROL_COOKIE, "")
    enrolment = desk().logins.enrolments.get(token) if token else None
    return (token, enrolment) if enrolment else None


def _enrol_page(enrolment: Enrolment, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "totp_enrol.html",
        username=enrolment.username,
        secret_text=totp.text_form(enrolment.secret),
        issuer=totp.ISSUER,
        error=error,
    ), status


def _expired() -> Response:
    response = Response(
        render_template("login.html", error=None, next=None, notice="The set-up expired. Log in again to restart it."),
        status=400,
    )
    response.delete_cookie(ENROL_COOKIE, path="/login")
    return response


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        return _expired()
    token, enrolment = pending
    if request.method == "GET":
        return _enrol_page(enrolment)
    refuse_cross_site()
    form = CodeForm()
    code = form.code.data if form.validate() else ""
    logins = desk().logins
    try:
        worker, done = confirm(desk().db, logins.replay, logins.enrolments, token, code or "")
    except WrongCode:
        message = "That code did not match. Check that your phone's clock is right, then type the newest code."
        return _enrol_page(enrolment, message, 400)
    except Expired:
        return _expired()
    response = open_session(worker, done.ring, done.target)
    response.delete_cookie(ENROL_COOKIE, path="/login")
    return response


@bp.get("/login/enrol/qr.svg")
def enrol_qr() -> ResponseReturnValue:
    """The QR code as its own image: the CSP allows no data: URL or inline image."""
    pending = _pending()
    if pending is None:
        abort(404)
    _token, enrolment = pending
    uri = totp.provisioning_uri(enrolment.secret, enrolment.username)
    return Response(totp.qr_svg(uri), mimetype="image/svg+xml")
