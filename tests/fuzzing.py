"""Both apps on one test installation, the desk logged in as an admin, ready for bench/fuzzgen.

``installation()`` builds what every route needs a real value for (a case filed through the
intake's JSON API with one declared file, so its token, attachment and upload secret exist; a
second caseworker to act on) and reads the forms of every page. The generator itself lives in
``bench/fuzzgen.py`` so that ``bench/fuzz.py`` sends the same requests to real gunicorn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from sqlalchemy import select

import caseworker
import intake
from bench import fuzzgen
from bench import protocol_client as client
from cases import installation as setup
from cases.config import Settings
from cases.db import Database
from cases.models import Case, Role

from .desk_helpers import logged_in_client

OTHER = "bob"  # the caseworker the admin routes act on, so the admin's own session survives


class FlaskTransport:
    """``protocol_client.Transport`` over a Flask test client; records the exception behind any 500."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app, self.client = app, client
        self.exceptions: list[BaseException] = []
        got_request_exception.connect(self._record, app, weak=False)

    def _record(self, _sender: object, exception: BaseException, **_extra: object) -> None:
        self.exceptions.append(exception)

    def send(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        response = self.client.open(path, method=method, data=body, headers=dict(headers or {}))
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()


@dataclass
class Installation:
    transports: dict[str, FlaskTransport]
    routes: list[fuzzgen.Route]
    targets: fuzzgen.Targets
    harvest: fuzzgen.Harvest
    live: fuzzgen.PageLive
    filed: client.Filed
    database: Database

    def log_in_again(self) -> None:
        desk = self.transports["desk"]
        desk.client = logged_in_client(desk.app, self.database)


def routes(apps: Mapping[str, Flask]) -> list[fuzzgen.Route]:
    found = []
    for name, app in apps.items():
        found += fuzzgen.routes_of(name, ((rule.rule, rule.methods or ()) for rule in app.url_map.iter_rules()))
    return fuzzgen.order(found)


def installation(settings: Settings, database: Database, installed_admin_id: int) -> Installation:
    """After the ``installed`` fixture, whose admin is logged in on the desk."""
    # The least work (it still rises with load): the requests are about parsing, not cost.
    settings = dataclasses.replace(settings, pow_bits=0)
    with database.session() as session:
        other = setup.create_caseworker(session, OTHER, "another long password", Role.CASEWORKER, settings.argon2)
        other_id = other.id
    apps = {"intake": intake.create_app(settings, database), "desk": caseworker.create_app(settings, database)}
    transports = {
        "intake": FlaskTransport(apps["intake"], apps["intake"].test_client()),
        "desk": FlaskTransport(apps["desk"], logged_in_client(apps["desk"], database)),
    }
    filed = client.file_report(
        transports["intake"],
        "en",
        {"what_happened": "fuzz target", "danger": "yes"},
        [("evidence.txt", "text/plain", b"x" * 70_000)],
    )
    upload = filed.uploads[0]
    targets = fuzzgen.Targets(
        real={
            "case_id": _case_id(database),
            "attachment_id": str(upload["id"]),
            "worker_id": str(other_id),
            "index": "0",
            "number": "1",
        },
        own_id=installed_admin_id,
        static={"intake": "app.js", "desk": _a_static_file(apps["desk"])},
    )
    live = fuzzgen.PageLive(transports["intake"], transports["desk"], filed.token, str(upload["secret"]))
    found = routes(apps)
    harvest = fuzzgen.crawl(transports, found, targets, live)
    return Installation(transports, found, targets, harvest, live, filed, database)


def _case_id(database: Database) -> str:
    with database.session() as session:
        return str(session.scalars(select(Case.id)).one())


def _a_static_file(app: Flask) -> str:
    folder = Path(app.static_folder or ".")
    return next(p.name for p in sorted(folder.iterdir()) if p.is_file())
