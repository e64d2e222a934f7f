"""The casework blueprint every case view registers on, and the one place where the domain's
refusals become pages.

The views are split by what they do (``case_page``, ``case_actions``, ``downloads``,
``exports``) but share this blueprint, so every endpoint keeps its ``casework.`` name.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from cases import errors, triage
from cases.reading import Keys

from . import forms

bp = Blueprint("casework", __name__)


def keys() -> Keys:
    """The intake private keys this caseworker's session unlocked."""
    private: Keys = g.keyring.private_keys()
    return private


def back(case_id: str, anchor: str) -> ResponseReturnValue:
    return redirect(url_for("casework.view", case_id=case_id, _anchor=anchor), 303)


def refuse(case_id: str, message: str, code: int = 409) -> ResponseReturnValue:
    """A clear refusal; nothing was stored. ``message`` is our own text, never reporter text."""
    return render_template("case_refused.html", case_id=case_id, message=message, code=code), code


def refusal(case_id: str, exc: errors.DomainError) -> ResponseReturnValue:
    """The page for a refusal: 404 for what does not exist, 400 for input that breaks a rule,
    409 for what the case's state or the reporter's consent does not allow."""
    if isinstance(exc, errors.NotFound):
        abort(404)
    message = f"Nothing was saved: {exc}." if isinstance(exc, triage.Invalid) else str(exc)
    return refuse(case_id, message, 400 if isinstance(exc, errors.Invalid) else 409)


def not_saved(case_id: str, form: forms.DeskForm) -> ResponseReturnValue:
    return refuse(case_id, f"Nothing was saved: {form.problem()}.", 400)
