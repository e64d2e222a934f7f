"""Application factory for the intake app."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from flask import Flask, Request, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import text

from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.intake_keys import NoIntakeKey, current
from crypto.keys import fingerprint
from web import access_log
from web import headers as http

from . import bodies, csrf, i18n
from .filing import Intake
from .limits import Slots
from .pow import ProofOfWork
from .sealing import CONCURRENT_SEALING, Budget, SealingFile

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "intake"


class InMemoryRequest(Request):
    """Uploaded files are sealed as they arrive (intake.sealing): werkzeug would otherwise keep
    them whole in memory, or spool large ones to a temporary file on disk, in clear."""

    budget: Budget | None = None

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):  # type: ignore[no-untyped-def, override]
        if self.budget is None:
            settings: Settings = current_app.extensions["rri.intake"].settings
            self.budget = Budget(
                settings.max_file_bytes,
                settings.max_total_bytes,
                settings.max_files,
                current_app.extensions["rri.sealing"],
            )
        return SealingFile(filename or "", content_type or "", self.budget)


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.request_class = InMemoryRequest
    app.config.update(
        SECRET_KEY=read_secret(settings.intake_secret_file, "the intake app's cookie key"),
        MAX_CONTENT_LENGTH=settings.max_total_bytes + 4 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=0,
    )
    http.refuse_control_characters(app)
    bodies.install(app)  # before CSRFProtect, which reads the body
    csrf.configure(app, settings.secure_cookies)
    i18n.configure(app)
    db = database or Database(settings.database_url)
    app.extensions["rri.intake"] = Intake(
        settings, db, FilesystemBlobStore(settings.blob_dir), Slots(settings.argon2_slots)
    )
    app.teardown_request(app.extensions["rri.intake"].release_held)
    app.extensions["rri.sealing"] = threading.BoundedSemaphore(CONCURRENT_SEALING)
    app.extensions["rri.pow"] = ProofOfWork(app.config["SECRET_KEY"], settings.pow_bits, db)

    from . import api, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.uploads)
    # Uploads prove an upload capability (X-Upload-Secret), not a cookie: no CSRF to forge there.
    csrf.protect.exempt(api.uploads)

    @app.teardown_request
    def _release_sealing(_error: BaseException | None) -> None:
        budget = getattr(request, "budget", None)
        if budget is not None:
            budget.release()

    access_log.install(app, "intake")

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        http.apply(response.headers)
        return response

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        g.lang = i18n.DEFAULT
        return views.show_form()

    def _error_page(code: int):  # type: ignore[no-untyped-def]
        def handler(_error):  # type: ignore[no-untyped-def]
            if "/api/" in request.path:  # app.js shows the message of a JSON answer
                return jsonify(error=views.too_large_notice("total") if code == 413 else views.failed_notice()), code
            return render_template("error.html", code=code), code

        return handler

    for code in (400, 404, 405, 413, 500):
        app.register_error_handler(code, _error_page(code))
    app.register_error_handler(CSRFError, views.csrf_failed)

    @app.get("/favicon.ico")
    def favicon():  # type: ignore[no-untyped-def]
        return "", 204  # browsers ask for it on every page; answer with nothing, cheaply

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        with db.session() as session:
            session.execute(text("SELECT 1"))
            try:
                key = current(session)
            except NoIntakeKey:
                return jsonify(status="not initialised"), 503
            return jsonify(status="ok", app="intake", intake_key=key.id, fingerprint=fingerprint(key.public_key))

    @app.get("/intake-key")
    def intake_key():  # type: ignore[no-untyped-def]
        """The public key the browser seals to (and its id and fingerprint, to compare)."""
        with db.session() as session:
            key = current(session)
            public = base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode()
            return jsonify(id=key.id, public_key=public, fingerprint=fingerprint(key.public_key))

    return app
