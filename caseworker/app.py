"""Application factory for the caseworker desk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from cases import errors, notices
from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.staff_login import Logins
from cases.staff_sessions import KeyVault
from web import access_log
from web import headers as http

from . import session as staff_session
from .context import EXTENSION, Desk

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "caseworker"
HTTP_ERRORS = (400, 403, 404, 405, 413, 421, 500)
# Domain failures a view lets through, as pages; the most specific class wins.
DOMAIN_ERRORS: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.Invalid, 400),
    (errors.Refused, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Busy, 503),
)


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    http.refuse_control_characters(app)
    app.config.update(
        SECRET_KEY=read_secret(settings.caseworker_secret_file, "the caseworker app's cookie key"),
        SEND_FILE_MAX_AGE_DEFAULT=0,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    db = database or Database(settings.database_url)
    context = Desk(
        settings=settings,
        db=db,
        blobs=FilesystemBlobStore(settings.blob_dir),
        vault=KeyVault(),
        logins=Logins(db, settings.argon2, settings.argon2_slots, app.config["SECRET_KEY"]),
    )
    app.extensions[EXTENSION] = context
    context.stops.append(staff_session.start_sweeper(app))
    protect = staff_session.install_csrf(app)
    # Content-free email notices from a background thread, only when RRI_NOTIFY_INTERVAL is set.
    if settings.notify_interval is not None:
        context.stops.append(notices.start_background(db, settings.mail, settings.notify_interval))

    from . import account, admin, auth, casework, enrolment, inbox, login, reporting

    # These three hold the views of auth.bp: importing them is what adds those views to it.
    assert all(module.bp is auth.bp for module in (account, enrolment, login))
    for module in (auth, inbox, casework, admin, reporting):
        app.register_blueprint(module.bp)

    @app.before_request
    def _session() -> None:
        staff_session.check_host()
        staff_session.load()
        staff_session.bind_csrf(protect)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"user": g.get("user"), "csrf_token": generate_csrf}

    access_log.install(app, "caseworker")

    @app.after_request
    def _headers(response: Response) -> Response:
        http.apply(response.headers)
        return response

    _error_pages(app)

    @app.get("/health")
    def health() -> ResponseReturnValue:
        # Anonymous: says the desk and its database answer, nothing about what they hold.
        db.ping()
        return jsonify(status="ok", app="caseworker")

    return app


def _error_pages(app: Flask) -> None:
    def http_error(code: int) -> ResponseReturnValue:
        return render_template("error.html", code=code), code

    for code in HTTP_ERRORS:
        app.register_error_handler(code, lambda _error, code=code: http_error(code))

    def domain_error(code: int, error: errors.DomainError) -> ResponseReturnValue:
        if isinstance(error, errors.Busy):
            # The page's own words (wait a few seconds), and when to come back.
            busy = render_template("error.html", code=code)
            return busy, code, {"Retry-After": str(error.retry_after)}
        line = str(error).rstrip(".")
        return render_template("error.html", code=code, message=line[:1].upper() + line[1:] + "."), code

    for kind, code in DOMAIN_ERRORS:
        app.register_error_handler(kind, lambda error, code=code: domain_error(code, error))
