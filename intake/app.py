"""Application factory for the intake app."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.filing import Filing
from cases.intake_keys import NoIntakeKey, published
from cases.limits import Slots
from cases.proof_of_work import ProofOfWork
from cases.sealing import CONCURRENT_SEALING
from web import access_log, compress
from web import headers as http

from . import bodies, csrf, error_pages, i18n, icons
from .context import Intake
from .inline import Inline
from .pages import bp, show_form
from .sealed_request import InMemoryRequest, release_sealing

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "intake"


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
    icons.install(app)  # checks every icon file now: a bad one stops start-up
    db = database or Database(settings.database_url)
    Intake(
        Filing(settings, db, FilesystemBlobStore(settings.blob_dir), Slots(settings.argon2_slots)),
        ProofOfWork(app.config["SECRET_KEY"], settings.pow_bits, db),
        threading.BoundedSemaphore(CONCURRENT_SEALING),
    ).install(app)

    from . import api, details, report, status  # noqa: F401  # their routes join the blueprints

    app.register_blueprint(bp)
    app.register_blueprint(api.chunks)
    # Uploads prove an upload capability (X-Upload-Secret), not a cookie: no CSRF to forge there.
    csrf.protect.exempt(api.chunks)

    app.teardown_request(release_sealing)

    access_log.install(app, "intake")
    compress.install(app)
    # The receipt shows its token in clear: {{ shown|stored }} (web.compress.keep_stored).
    app.jinja_env.filters["stored"] = compress.keep_stored

    @app.after_request
    def _headers(response: Response) -> Response:
        http.apply(response.headers)  # keeps the policy _inline_blocks set (it runs first)
        return response

    _inline_blocks(app)  # after_request hooks run last registered, first

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


def _inline_blocks(app: Flask) -> None:
    """Every page is one response: ``base.html`` inlines the style sheet and the script the page
    names (``inline_script("full")`` on pages that seal, ``"light"`` elsewhere), and the answer's
    CSP allows exactly the blocks it carries, by hash. Blocks and policies are built here, once.

    ``/static/`` serves the files themselves: the pages that seal import seal.js and strip.js
    from there when first needed, and the Node and Chromium vector tests check those very files.
    """
    inline = Inline.load()
    for block in (inline.style, *inline.scripts.values()):
        block.markup, block.hash  # noqa: B018 - built and checked now, once: never per request
    style = inline.style.hash
    # Pages that seal load seal.js and strip.js from the intake itself (intake.inline).
    imports = {"full": ("'self'",), "light": ()}
    policies = {
        (kind, styled, recording): http.policy(
            scripts=(inline.scripts[kind].hash, *imports[kind]) if kind else (),
            styles=(style,) if styled else (),
            images=("'self'", "data:"),  # the empty inline icon: no request for /favicon.ico
            media=("blob:",) if recording else (),  # a voice note played back before it is sent
        )
        for kind in (None, *inline.scripts)
        for styled in (False, True)
        for recording in (False, True)
    }
    static_policy = http.policy(scripts=("'self'",), styles=())

    def inline_style() -> Markup:
        g.inline_style = True
        return inline.style.markup

    def inline_script(kind: str) -> Markup:
        g.inline_script = kind
        return inline.scripts[kind].markup

    def records_voice() -> str:
        """Called by the voice_input() macro: this page records, so it may use the microphone."""
        g.records_voice = True
        return ""

    app.jinja_env.globals.update(inline_style=inline_style, inline_script=inline_script, records_voice=records_voice)

    @app.after_request
    def _policy(response: Response) -> Response:
        if "Content-Security-Policy" not in response.headers:
            recording = bool(g.get("records_voice"))
            key = (g.get("inline_script"), bool(g.get("inline_style")), recording)
            is_static = request.endpoint == "static"
            response.headers["Content-Security-Policy"] = static_policy if is_static else policies[key]
            if recording:  # the report form and the status page record voice notes (voice.js)
                response.headers["Permissions-Policy"] = http.RECORDING
        return response
