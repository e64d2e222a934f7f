"""Prints how fast the caseworker inbox opens with many cases (a benchmark, not a test).

    .venv/bin/python bench/inbox_latency.py [--cases 10000] [--postgres]

A throw-away installation (SQLite in a temporary folder, or a fresh schema on the PostgreSQL of
RRI_TEST_PG_URL, dropped afterwards) gets N cases with small, varied sealed reports, some
reporter messages and status changes. A logged-in admin then loads, through the Flask test
client (no network):

1. the inbox when no index entry exists yet (every report is opened once and indexed),
2. the inbox again (warm: index entries decrypted with AES-GCM),
3. a filtered inbox (act type + country),
4. page 50,

and the raw cost of opening one index entry and one sealed report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from servers import PASSWORD, PG_URL, database_url
from sqlalchemy import insert, select

import caseworker
from cases import inbox_index as index
from cases import installation, keyring
from cases.clock import today
from cases.config import Settings
from cases.db import Database
from cases.ids import new_id
from cases.intake_keys import current
from cases.models import Case, Caseworker, Direction, Message, SealedIn, Status, Submission
from cases.questionnaire import QUESTIONS
from caseworker import session as staff_session
from cli.main import open_database
from crypto.envelope import Purpose, open_envelope, seal
from crypto.inbox_index import EntryCipher
from crypto.keys import KeyPair

COUNTRIES = ["Example Republic", "Example Kingdom", "Example Federation", "Testland", "Samplestan", "Elsewhere"]
ACTS = [choice.value for choice in QUESTIONS["act_types"].choices]
UN_LINKS = [choice.value for choice in QUESTIONS["un_link"].choices]
SITUATIONS = ["free", "free", "free", "detained", "missing", "hiding", "relocated", "unknown"]
STATUSES = list(Status)
BATCH = 1000


def report(rng: random.Random) -> bytes:
    answers = {
        "what_happened": "x" * rng.randint(50, 400),
        "country": rng.choice(COUNTRIES),
        "act_types": rng.sample(ACTS, rng.randint(1, 3)),
        "un_link": rng.sample(UN_LINKS, rng.randint(0, 2)),
        "situation": rng.choice(SITUATIONS),
        "consent_act": rng.choice(["yes", "no"]),
    }
    return json.dumps({"v": 1, "lang": "en", "answers": answers}).encode()


def case_row(rng: random.Random, day: dt.date) -> dict:
    received = day - dt.timedelta(days=rng.randint(0, 730))
    status = rng.choice(STATUSES)
    acknowledged = None if status is Status.RECEIVED else received + dt.timedelta(days=rng.randint(0, 10))
    return {
        "id": new_id(),
        "status": status,
        "urgent": rng.random() < 0.03,
        "received_on": received,
        "updated_on": min(day, received + dt.timedelta(days=rng.randint(0, 60))),
        "acknowledged_on": acknowledged,
        "closed_on": acknowledged if status is Status.CLOSED else None,
        "sealed_in": SealedIn.BROWSER,
        "token_lookup": os.urandom(32),
        "reporter_public_key": KeyPair.generate().public,
    }


def populate(db: Database, count: int) -> float:
    """Insert ``count`` cases in batches; returns the seconds it took."""
    rng = random.Random(7)
    start = time.perf_counter()
    with db.session() as session:
        intake = current(session)
        admin_id = session.scalar(select(Caseworker.id))
    day = today()
    for first in range(0, count, BATCH):
        cases = [case_row(rng, day) for _ in range(min(BATCH, count - first))]
        for case in cases:
            case["assigned_to"] = admin_id if rng.random() < 0.2 else None
        submissions = [
            {
                "case_id": c["id"],
                "received_on": c["received_on"],
                "intake_key_id": intake.id,
                "envelope": seal(intake.public_key, Purpose.REPORT, report(rng)),
            }
            for c in cases
        ]
        messages = [
            {
                "case_id": c["id"],
                "direction": Direction.FROM_REPORTER,
                "sent_on": c["updated_on"],
                "team_envelope": b"sealed elsewhere",
                "read_on": None if rng.random() < 0.5 else day,
            }
            for c in cases
            if rng.random() < 0.2
        ]
        with db.session() as session:
            session.execute(insert(Case), cases)
            session.execute(insert(Submission), submissions)
            if messages:
                session.execute(insert(Message), messages)
    return time.perf_counter() - start


def desk(settings: Settings, db: Database) -> tuple[Flask, FlaskClient]:
    """The desk app and a client logged in as the admin (as tests/desk_helpers does)."""
    app = caseworker.create_app(settings, db)
    with db.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, worker, PASSWORD)
        session.expunge(worker)
    with app.test_request_context():
        cookie = staff_session.start(worker, ring)
    client = app.test_client()
    client.set_cookie(staff_session.COOKIE, cookie)
    return app, client


def timed(client: FlaskClient, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    return elapsed


def median_of(runs: int, func: Callable[[], float]) -> float:
    return statistics.median(func() for _ in range(runs))


def per_item_us(items: list, func: Callable[[object], object]) -> float:
    start = time.perf_counter()
    for item in items:
        func(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def raw_costs(db: Database) -> tuple[float, float]:
    """(µs to open one index entry, µs to open one sealed report)."""
    with db.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, worker, PASSWORD)
        cipher = EntryCipher(index.index_key(session, ring))
        blobs = list(session.execute(select(Case.id, Case.index_blob)))
        envelopes = list(session.scalars(select(Submission.envelope).limit(500)))
    keys = ring.private_keys()
    entry_us = per_item_us(blobs, lambda row: index.open_entry(cipher, row.id, row.index_blob))  # type: ignore[attr-defined]
    report_us = per_item_us(envelopes, lambda env: open_envelope(keys, Purpose.REPORT, env))  # type: ignore[arg-type]
    return entry_us, report_us


def run(count: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="rri-bench-") as tmp:
        home = Path(tmp)
        with database_url("postgres" if postgres else "sqlite", home) as url:
            env = {**os.environ, "RRI_HOME": str(home), "RRI_ARGON2": "testing", "DATABASE_URL": url}
            settings = Settings.from_env(env)
            db = open_database(settings, prepare=True)
            with db.session() as session:
                installation.initialise(session, "admin", PASSWORD, settings.argon2)
            backend = "PostgreSQL" if postgres else "SQLite"
            print(f"{backend}, {count} cases: inserted in {populate(db, count):.1f} s")
            _app, client = desk(settings, db)
            figures = [
                ("first inbox load (builds every index entry)", timed(client, "/")),
                ("warm inbox load (median of 5)", median_of(5, lambda: timed(client, "/"))),
                (
                    "filtered: act type + country (median of 5)",
                    median_of(5, lambda: timed(client, "/?act=threats&country=rep")),
                ),
                ("page 50 (median of 5)", median_of(5, lambda: timed(client, "/?page=50"))),
            ]
            for label, ms in figures:
                print(f"  {label:<48} {ms:>9.1f} ms")
            entry_us, report_us = raw_costs(db)
            print(f"  {'open one index entry (AES-GCM + JSON)':<48} {entry_us:>9.1f} µs")
            print(f"  {'open one sealed report (HPKE)':<48} {report_us:>9.1f} µs")
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help=f"run on a fresh schema of {PG_URL}")
    args = parser.parse_args()
    run(args.cases, args.postgres)


if __name__ == "__main__":
    main()
