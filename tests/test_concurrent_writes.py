"""On SQLite, many server threads writing at once (gunicorn runs 32 per intake worker) must
queue for the database's write lock: no "database is locked", and a transaction that reads then
writes sees every earlier commit (PostgreSQL gives its own guarantees per statement)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from cases.db import Database

from .conftest import BACKEND


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's locking")
def test_read_then_write_transactions_from_many_threads_all_commit(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter_rows (n INTEGER NOT NULL)"))
    threads, per_thread = 24, 8
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                with database.session() as session:
                    last = session.execute(text("SELECT COALESCE(MAX(n), 0) FROM counter_rows")).scalar_one()
                    session.execute(text("INSERT INTO counter_rows (n) VALUES (:n)"), {"n": last + 1})
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    with database.engine.connect() as conn:
        written = sorted(conn.execute(text("SELECT n FROM counter_rows")).scalars())
    assert written == list(range(1, threads * per_thread + 1)), "two transactions read the same last row"
