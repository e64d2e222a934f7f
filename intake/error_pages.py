"""What the intake answers when a request fails outside a view's own answers: a plain page, or
for app.js (any /api/ path) a JSON ``error`` it shows as it is. Never a traceback."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from cases.blobs import WRITE_FAILURES, is_storage_full
from cases.proof_of_work import Path

from .context import intake
from .i18n import LANGUAGES
from .notices import failed_notice, stale_notice, storage_full_notice, too_large_notice
from .pages import RETRY_LATER, lookup_failed, show_form

TOKEN_PAGES = ("reporter.status", "reporter.follow_up", "reporter.delete_channel")


def install(app: Flask) -> None:
    for code in (400, 404, 405, 413, 500):
        app.register_error_handler(code, _error_page(code))
    app.register_error_handler(CSRFError, _csrf_failed)
    for failure in WRITE_FAILURES:
        app.register_error_handler(failure, _storage_full)


def _error_page(code: int) -> Callable[[Exception], ResponseReturnValue]:
    def handler(_error: Exception) -> ResponseReturnValue:
        # A path no route matched (/fr/no-such-page) still names the reporter's language.
        first = request.path.lstrip("/").split("/", 1)[0]
        if "lang" not in g and first in LANGUAGES:
            g.lang = first
        if "/api/" in request.path:  # app.js shows the message of a JSON answer
            return jsonify(error=too_large_notice("total") if code == 413 else failed_notice()), code
        return render_template("error.html", code=code), code

    return handler


def _csrf_failed(_error: CSRFError) -> ResponseReturnValue:
    """CSRFProtect refused a POST: answer it the way its route answers other mistakes."""
    if request.endpoint in ("reporter.report", "reporter.message"):
        return jsonify(error=stale_notice()), 400, {"X-New-Challenge": intake().pow.challenge(Path.JS)}
    if request.endpoint == "reporter.submit":
        return show_form(request.form, notice=stale_notice(), status=400)
    if request.endpoint in TOKEN_PAGES:
        return lookup_failed(stale_notice())
    return render_template("error.html", code=400), 400


def _storage_full(error: Exception) -> ResponseReturnValue:
    """A full disk (blob store or database) outside the forms that keep the reporter's answers:
    the transaction was rolled back, so nothing was kept, and the client retries later."""
    if not is_storage_full(error):
        current_app.logger.error("database error on %s", request.url_rule, exc_info=error)
        return render_template("error.html", code=500), 500
    if "/api/" in request.path:
        return {"error": storage_full_notice()}, 503, RETRY_LATER
    return render_template("error.html", code=503), 503, RETRY_LATER
