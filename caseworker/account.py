"""A caseworker's own account page: password and preferences (the rules: cases/staff.py)."""

from __future__ import annotations

from flask import g, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from cases import staff
from cases.languages import LANGUAGES as ALL_LANGUAGES
from cases.passwords import WeakPassword

from . import session as staff_session
from .auth import bp
from .auth_forms import MAX_PASSWORD, PasswordChangeForm, PreferencesForm
from .context import desk

LANGUAGES = {code: language.name for code, language in ALL_LANGUAGES.items()}


def _account_page(message: str | None = None, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "account.html",
        fingerprint=staff.key_fingerprint(staff_session.user()),
        languages=LANGUAGES,
        message=message,
        error=error,
    ), status


@bp.get("/account")
@staff_session.require()
def account() -> ResponseReturnValue:
    return _account_page()


@bp.post("/account/password")
@staff_session.require()
def change_password() -> ResponseReturnValue:
    form = PasswordChangeForm()
    if not form.validate():
        return _account_page(
            error=f"Fill in all three password fields, each at most {MAX_PASSWORD} characters.", status=400
        )
    current, new = form.current.data or "", form.new.data or ""
    if new != (form.again.data or ""):
        return _account_page(error="The two new passwords are not the same.", status=400)
    worker, ring = staff_session.user(), staff_session.keyring()
    try:
        # KeyChanged (409) and Busy (503) become pages in caseworker/app.py.
        staff.change_password(desk().logins, worker, ring.owner, current, new)
    except WeakPassword as exc:
        return _account_page(error=f"The new password is too short: {exc}.", status=400)
    except staff.Paused:
        # Someone at an open session guessing the password: end every session of the account.
        staff_session.end_all_for(worker.id)
        return redirect(url_for("auth.login"))
    except staff.WrongPassword:
        return _account_page(error="The current password is wrong.", status=400)
    cookie = staff_session.replace_all(worker, ring)
    # The page embeds a CSRF token bound to the new session.
    response = make_response(_account_page(message="Password changed. Your other sessions were ended."))
    staff_session.set_cookie(response, cookie)
    return response


@bp.post("/account/preferences")
@staff_session.require()
def preferences() -> ResponseReturnValue:
    form = PreferencesForm()
    form.language.choices = list(LANGUAGES.items())
    if not form.validate():
        if form.language.errors:
            return _account_page(error="Choose one of the listed languages.", status=400)
        return _account_page(error="That e-mail address does not look right.", status=400)
    worker, changed = staff.save_preferences(
        desk().db, staff_session.user().id, form.language.data or "", form.email.data or None
    )
    g.user = worker
    return _account_page(message="Saved." if changed else "Nothing changed.")
