"""Application factory for the caseworker app."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, render_template
from sqlalchemy import func, select, text

from cases import http
from cases.blobs import FilesystemBlobStore
from cases.config import Settings, read_secret
from cases.db import Database
from cases.models import Case

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "caseworker"


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder="static")
    app.config.update(
        SECRET_KEY=read_secret(settings.caseworker_secret_file, "the caseworker app's cookie key"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
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
            cases = session.scalar(select(func.count()).select_from(Case))
        return jsonify(status="ok", app="caseworker", cases=cases)

    return app
