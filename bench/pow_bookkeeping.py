"""Proof-of-work bookkeeping cost per request as spent challenges pile up (issue 7, item 15).

Fills the ``spent_challenges`` table with N rows, then times ``ProofOfWork.verify`` with the work
already done, so only the check and the bookkeeping are measured. SQLite in a temporary
directory by default; set DATABASE_URL to a PostgreSQL database to measure there (in a fresh
schema, dropped afterwards).

    python bench/pow_bookkeeping.py [N ...]      default: 0 50000 200000
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bench.protocol_client import solve
from cases import migrate
from cases.db import Database, make_engine
from cases.models import SpentChallenge
from cases.proof_of_work import ProofOfWork

SAMPLES = 300


def measure(database: Database, rows: int, already: int) -> float:
    """Median milliseconds per verify once the table holds ``rows`` rows."""
    expires = dt.date.today() + dt.timedelta(days=1)
    with database.session() as session:
        for start in range(already, rows, 10_000):
            count = min(10_000, rows - start)
            batch = [{"digest": secrets.token_bytes(32), "expires_on": expires} for _ in range(count)]
            session.execute(insert(SpentChallenge), batch)
    work = ProofOfWork(b"k" * 32, base_bits=0, database=database)
    timings = []
    for _ in range(SAMPLES):
        challenge = work.challenge()
        solution = solve(challenge)  # a few bits once the bench's own load raises the price
        started = time.perf_counter()
        work.verify(challenge, solution, form_allowed=False)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> int:
    sizes = [int(arg) for arg in sys.argv[1:]] or [0, 50_000, 200_000]
    url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"bench_{secrets.token_hex(4)}"
        if url:
            admin = make_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        database = Database(url or f"sqlite:///{tmp}/bench.db")
        try:
            migrate.upgrade(database.engine)
            print(f"{database.engine.dialect.name}: median verify() bookkeeping, {SAMPLES} requests each")
            filled = 0
            for rows in sorted(sizes):
                print(f"  {rows:>8} spent challenges: {measure(database, rows, filled):6.2f} ms per request")
                filled = rows + SAMPLES
        finally:
            database.engine.dispose()
            if url:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
