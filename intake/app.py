"""Application factory for the intake app."""

from __future__ import annotations

import base64
from pathlib import Path

from flask import Flask, jsonify, render_template
from sqlalchemy import text

from cases import http
from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.intake_keys import NoIntakeKey, current
from crypto.keys import fingerprint

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "intake"


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.update(
        SECRET_KEY=read_secret(settings.intake_secret_file, "the intake app's cookie key"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=80 * 1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=0,
    )
    app.extensions["rri.settings"] = settings
    app.extensions["rri.db"] = database or Database(settings.database_url)
    app.extensions["rri.blobs"] = FilesystemBlobStore(settings.blob_dir)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        http.apply(response.headers)
        return response

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        db: Database = app.extensions["rri.db"]
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
        db: Database = app.extensions["rri.db"]
        with db.session() as session:
            key = current(session)
            public = base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode()
            return jsonify(id=key.id, public_key=public, fingerprint=fingerprint(key.public_key))

    return app
