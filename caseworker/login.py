"""Logging in and out of the desk (the rules: cases/staff_login.py).

Every failure gets the same status and page, so the answer reveals neither which names exist,
nor which factor was wrong, nor whether the account is paused.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from cases import audit
from cases.staff_login import Result

from . import enrolment
from . import session as staff_session
from .auth import bp, device_cookie, home_for, open_session, refuse_cross_site, safe_next
from .auth_forms import LoginForm
from .context import desk

GENERIC_FAILURE = (
    "Wrong user name, password or code. After repeated failures, logins from a browser you have "
    "not logged in from before are paused for up to an hour."
)


def _login_page(error: str | None = None, status: int = 200, target: str | None = None) -> ResponseReturnValue:
    return render_template("login.html", error=error, notice=None, next=target), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = safe_next(request.values.get("next"))
    worker = staff_session.logged_in()
    if worker is not None:
        return redirect(target or home_for(worker))
    if request.method == "GET":
        return _login_page(target=target)
    refuse_cross_site()
    form = LoginForm()
    if not form.validate():
        return _login_page(GENERIC_FAILURE, 401, target)
    # staff_throttle.Busy (every argon2 slot taken) becomes 503 + Retry-After (caseworker/app.py).
    outcome = desk().logins.attempt(
        form.username.data or "", form.password.data or "", form.code.data or "", device_cookie()
    )
    if outcome.result is Result.FAILED:
        return _login_page(GENERIC_FAILURE, 401, target)
    assert outcome.worker is not None and outcome.ring is not None
    if outcome.result is Result.ENROL:
        return enrolment.begin(outcome.worker, outcome.ring, target)
    return open_session(outcome.worker, outcome.ring, target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    worker = staff_session.logged_in()
    if worker is not None:
        with desk().db.session() as session:
            audit.record(session, "logout", actor_id=worker.id, detail=worker.username)
        staff_session.end()
    response = redirect(url_for("auth.login"))
    staff_session.delete_cookie(response)
    return response
