"""Application factory for the intake app."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO

from flask import Flask, Request, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.filing import Filing
from cases.intake_keys import NoIntakeKey, published
from cases.limits import Slots
from cases.proof_of_work import ProofOfWork
from cases.sealing import CONCURRENT_SEALING, Budget, SealingFile
from web import access_log
from web import headers as http

from . import bodies, csrf, error_pages, i18n
from .context import Intake, intake
from .pages import bp, show_form

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "intake"


class InMemoryRequest(Request):
    """Uploaded files are sealed as they arrive (cases.sealing): werkzeug would otherwise keep
    them whole in memory, or spool large ones to a temporary file on disk, in clear."""

    budget: Budget | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.budget is None:
            here = intake()
            limits = here.settings
            self.budget = Budget(limits.max_file_bytes, limits.max_total_bytes, limits.max_files, here.sealing)
        return SealingFile(filename or "", content_type or "", self.budget)  # type: ignore[return-value]  # write/seek/read is all werkzeug uses


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
    Intake(
        Filing(settings, db, FilesystemBlobStore(settings.blob_dir), Slots(settings.argon2_slots)),
        ProofOfWork(app.config["SECRET_KEY"], settings.pow_bits, db),
        threading.BoundedSemaphore(CONCURRENT_SEALING),
    ).install(app)

    from . import api, report, status  # noqa: F401  # their routes join the blueprints

    app.register_blueprint(bp)
    app.register_blueprint(api.chunks)
    # Uploads prove an upload capability (X-Upload-Secret), not a cookie: no CSRF to forge there.
    csrf.protect.exempt(api.chunks)

    @app.teardown_request
    def _release_sealing(_error: BaseException | None) -> None:
        budget = getattr(request, "budget", None)
        if budget is not None:
            budget.release()

    access_log.install(app, "intake")

    @app.after_request
    def _headers(response: Response) -> Response:
        http.apply(response.headers)
        return response

    @app.get("/")
    def index() -> ResponseReturnValue:
        g.lang = i18n.DEFAULT
        return show_form()

    error_pages.install(app)

    @app.get("/favicon.ico")
    def favicon() -> ResponseReturnValue:
        return "", 204  # browsers ask for it on every page; answer with nothing, cheaply

    @app.get("/health")
    def health() -> ResponseReturnValue:
        try:
            key = published(db)
        except NoIntakeKey:
            return jsonify(status="not initialised"), 503
        return jsonify(status="ok", app="intake", intake_key=key.id, fingerprint=key.fingerprint)

    @app.get("/intake-key")
    def intake_key() -> ResponseReturnValue:
        """The public key the browser seals to (and its id and fingerprint, to compare)."""
        key = published(db)
        return jsonify(id=key.id, public_key=key.text, fingerprint=key.fingerprint)

    return app
