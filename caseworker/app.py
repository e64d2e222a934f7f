"""Application factory for the caseworker desk."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, jsonify, render_template
from flask_wtf.csrf import generate_csrf
from sqlalchemy import text

from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from web import access_log
from web import headers as http

from . import notifier
from . import session as staff_session
from .context import EXTENSION, Desk

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "caseworker"


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    http.refuse_control_characters(app)
    app.config.update(
        SECRET_KEY=read_secret(settings.caseworker_secret_file, "the caseworker app's cookie key"),
        SEND_FILE_MAX_AGE_DEFAULT=0,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    context = Desk(
        settings=settings,
        db=database or Database(settings.database_url),
        blobs=FilesystemBlobStore(settings.blob_dir),
        vault=staff_session.KeyVault(),
    )
    app.extensions[EXTENSION] = context
    context.stops.append(staff_session.start_sweeper(app))
    protect = staff_session.install_csrf(app)
    # Content-free email notices from a background thread, only when RRI_NOTIFY_INTERVAL is set.
    if settings.notify_interval is not None:
        context.stops.append(notifier.start_background(context.db, settings.mail, settings.notify_interval))

    from . import admin, auth, casework, inbox, reporting

    for module in (auth, inbox, casework, admin, reporting):
        app.register_blueprint(module.bp)

    @app.before_request
    def _session() -> None:
        staff_session.check_host()
        staff_session.load()
        staff_session.bind_csrf(protect)

    @app.context_processor
    def _globals() -> dict:
        return {"user": g.get("user"), "csrf_token": generate_csrf}

    access_log.install(app, "caseworker")

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        http.apply(response.headers)
        return response

    def _error_page(code: int):  # type: ignore[no-untyped-def]
        def handler(_error):  # type: ignore[no-untyped-def]
            return render_template("error.html", code=code), code

        return handler

    for code in (400, 403, 404, 405, 413, 421, 500):
        app.register_error_handler(code, _error_page(code))

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        # Anonymous: says the desk and its database answer, nothing about what they hold.
        with context.db.session() as session:
            session.execute(text("SELECT 1"))
        return jsonify(status="ok", app="caseworker")

    return app
