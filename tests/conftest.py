"""Shared fixtures. The database backend comes from RRI_TEST_DB: "sqlite" (default) or
"postgres" (127.0.0.1:5432, database test, trust auth), so the same suite runs on both.

On PostgreSQL every test gets its own schema, created empty and dropped afterwards, so tests
never see each other's rows and the migrations are exercised from scratch each time.

This is the one home of the app fixtures: ``intake_app``/``intake_client`` (a module overrides
``intake_settings`` to change a limit), ``desk_app``/``desk_client`` (logged in as the admin),
``clock`` for TOTP, and ``live``/``browser`` for the browser tests. Cases are filed with
``tests.factories.file_case``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

import intake
from cases import installation, migrate, totp
from cases import proof_of_work as pow_module
from cases.blobs import FilesystemBlobStore
from cases.config import Settings, create_secret
from cases.db import Database

PG_URL = os.environ.get("RRI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKEND = os.environ.get("RRI_TEST_DB", "sqlite")
ADMIN_PASSWORD = "correct horse battery staple"


def pytest_report_header() -> str:
    return f"database backend: {BACKEND}"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if BACKEND != "postgres":
        raise pytest.UsageError(f"RRI_TEST_DB must be sqlite or postgres, not {BACKEND!r}")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """Environment for a subprocess of the CLI or a server, on this test's database."""
    return {
        **os.environ,
        "RRI_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database_url,
        "RRI_ARGON2": "testing",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    settings = Settings.from_env(env)
    settings.home.mkdir(parents=True, exist_ok=True)
    for path in (settings.pepper_file, settings.intake_secret_file, settings.caseworker_secret_file):
        create_secret(path)
    return settings


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    migrate.upgrade(db.engine)
    yield db
    db.engine.dispose()


@pytest.fixture
def blobs(settings: Settings) -> FilesystemBlobStore:
    return FilesystemBlobStore(settings.blob_dir)


@dataclass
class Installed:
    recovery_text: str
    admin_id: int
    admin_password: str


@pytest.fixture
def installed(database: Database, settings: Settings) -> Installed:
    with database.session() as session:
        result = installation.initialise(session, "admin", ADMIN_PASSWORD, settings.argon2)
        return Installed(result.recovery_text, result.admin.id, ADMIN_PASSWORD)


@pytest.fixture
def intake_settings(settings: Settings) -> Settings:
    """The intake app's settings; a module overrides this fixture to change a limit."""
    return settings


@pytest.fixture
def intake_app(intake_settings: Settings, database: Database, installed: Installed) -> Flask:
    return intake.create_app(intake_settings, database)


@pytest.fixture
def intake_client(intake_app: Flask) -> FlaskClient:
    return intake_app.test_client()


@pytest.fixture
def forms_without_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A form may be posted the moment it is served; without this a no-JavaScript post must wait."""
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)


@pytest.fixture
def desk_app(settings: Settings, database: Database, installed: Installed) -> Flask:
    return make_desk_app(settings, database)


@pytest.fixture
def desk_client(desk_app: Flask, database: Database) -> FlaskClient:
    """Logged in as the admin, through the session machinery the login page uses."""
    return logged_in_client(desk_app, database)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The TOTP clock, moved by the test."""
    fake = FakeTime()
    monkeypatch.setattr(totp, "time", fake)
    return fake


# Imported last: these modules import ADMIN_PASSWORD and Installed from here.
from .desk_helpers import FakeTime, logged_in_client, make_desk_app  # noqa: E402
from .live import browser, live  # noqa: E402,F401  - fixtures for the browser tests
