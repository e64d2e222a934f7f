"""The reporter's blueprint (every page under /<lang>/) and the pages its views render.

Nothing a reporter types is ever in a URL (so it cannot reach history or a log): tokens and
reports travel only in POST bodies, and every page is served no-store.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from flask import Blueprint, abort, g, render_template
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from cases.filing import Receipt, Reporter
from cases.limits import RETRY_AFTER_SECONDS
from cases.proof_of_work import Path, Payment
from cases.questionnaire import QUICK
from web import compress

from . import csrf
from .context import intake
from .forms import PaidForm
from .i18n import LANGUAGES
from .notices import busy_notice, no_match_notice

bp = Blueprint("reporter", __name__, url_prefix="/<lang>")
RETRY_LATER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


@bp.url_value_preprocessor
def _pull_lang(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    lang = values.pop("lang", "en") if values else "en"
    if lang not in LANGUAGES:
        abort(404)
    g.lang = lang


@bp.url_defaults
def _push_lang(_endpoint: str, values: dict[str, Any]) -> None:
    values.setdefault("lang", getattr(g, "lang", "en"))


def form_body_limit() -> int:
    """The no-JS report or follow-up: all its files, and room for the answers around them."""
    return intake().settings.max_total_bytes + 2 * 1024 * 1024


def challenges() -> dict[str, str]:
    """A page's two challenges: one a plain form post pays with time, one app.js pays with work."""
    return {"challenge": intake().pow.challenge(Path.FORM), "js_challenge": intake().pow.challenge(Path.JS)}


def paid(form: PaidForm, nonce: str | None = None) -> Payment:
    """Proof-of-work for a form post: a solved JS challenge, or a form challenge old enough."""
    return intake().pow.pay(form.challenge.data or "", form.solution.data or None, form_allowed=True, nonce=nonce)


def show_form(
    values: MultiDict[str, str] | None = None, errors: dict[str, str] | None = None, notice: str = "", status: int = 200
) -> tuple[str, int]:
    """The report form, with the reporter's answers and what to say about them, if any."""
    values = values or MultiDict()
    limits = intake().settings
    page = render_template(
        "form.html",
        # The quick path's three questions; the rest is on the details page (intake.details).
        danger=QUICK["danger"],
        what_happened=QUICK["what_happened"],
        consent_act=QUICK["consent_act"],
        values=values,
        errors=errors or {},
        notice=notice,
        contacts=intake().contacts,
        intake_public_key=intake().filing.intake_key().text,
        csrf_token=csrf.token(),
        **challenges(),
        nonce=values.get("nonce") or secrets.token_urlsafe(18),
        max_file_mb=limits.max_file_bytes // (1024 * 1024),
        max_total_mb=limits.max_total_bytes // (1024 * 1024),
        max_files=limits.max_files,
    )
    return page, status


def retry_later(values: MultiDict[str, str], notice: str = "") -> ResponseReturnValue:
    """The form again, with the reporter's answers, asking to send again in a while."""
    page, _code = show_form(values, notice=notice or busy_notice())
    return page, 503, RETRY_LATER


def receipt_page(receipt: Receipt, nonce: str) -> str:
    # Every route here passed the CSRF check; the token shown in clear and the nonce go out in
    # stored blocks, the CSRF token and the token's hidden copy masked: compressed (web.compress).
    compress.allow_post()
    return render_template("receipt.html", **receipt_context(receipt, nonce))


def receipt_context(receipt: Receipt, nonce: str) -> dict[str, object]:
    """What the receipt needs. The submission's nonce lets its language switch ask for the same
    receipt again (POST /<lang>/receipt), so the token survives it without being stored anywhere
    on the device; the page only holds it, as it holds the token."""
    return {
        "receipt": receipt,
        "contacts": intake().contacts,
        "nonce": nonce,
        "csrf_token": csrf.token(),
        **challenges(),  # its form goes on with the token (to the details or the status page)
    }


def lookup_failed(message: str, code: int = 400, token_text: str = "") -> tuple[str, int]:
    """The token form again, saying why the token did not open a case."""
    page = render_template(
        "status_lookup.html",
        csrf_token=csrf.token(),
        **challenges(),
        error=message,
        typed=token_text,
        contacts=intake().contacts,
    )
    return page, code


def no_match(token_text: str) -> tuple[str, int]:
    """The token opens no case: mistyped, or its reply channel deleted (perhaps a moment ago)."""
    return lookup_failed(no_match_notice(), 404, token_text)


def status_page(reporter: Reporter, notice: str = "", message: str = "", errors: dict[str, str] | None = None) -> str:
    standing = intake().filing.standing(reporter)
    limits = intake().settings
    return render_template(
        "status.html",
        view=standing.view,
        token=reporter.token,
        notice=notice,
        message=message,
        errors=errors or {},  # field name -> what is wrong with it, shown next to the field
        csrf_token=csrf.token(),
        **challenges(),
        refresh_challenge=intake().pow.challenge(Path.FORM),
        refresh_js_challenge=intake().pow.challenge(Path.JS),
        intake_public_key=standing.intake_key.text,
        reporter_public_key=_text(reporter.keys.public),
        case_context=standing.case_context.decode(),
        contacts=intake().contacts,
        max_file_mb=limits.max_file_bytes // (1024 * 1024),
        max_total_mb=limits.max_total_bytes // (1024 * 1024),
        max_files=limits.max_files,
    )


def _text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()
