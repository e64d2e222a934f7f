"""Engine and session factory; SQLite by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session as Session  # re-exported: the apps name a unit of work by it
from sqlalchemy.orm import sessionmaker


def make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own BEGIN is deferred and only comes before the first write, so a transaction
    # that read first, or a write racing a commit, fails with "database is locked" at once
    # (SQLite's deadlock rule skips busy_timeout). Taking the write lock at the start makes
    # concurrent transactions wait their turn instead (many server threads, one SQLite file).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # _sqlite_begin emits BEGIN, not pysqlite
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # secure_delete overwrites freed pages so deleted ciphertext does not linger in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=20000")  # many server threads may queue for the write lock
    cursor.close()


class Database:
    """One engine and its session factory; both apps and the CLI make one each."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        self.engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._open = threading.local()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error."""
        if self.engine.dialect.name == "sqlite" and int(getattr(self._open, "depth", 0)):
            # The outer unit holds SQLite's write lock (BEGIN IMMEDIATE): the inner one would
            # wait for it until the busy timeout. Fail at once, where the mistake is.
            raise RuntimeError("a database session opened inside another one in the same thread")
        self._open.depth = int(getattr(self._open, "depth", 0)) + 1
        try:
            with self._sessions() as session, session.begin():
                yield session
        finally:
            self._open.depth -= 1

    def ping(self) -> None:
        """Raises if the database does not answer (for health checks)."""
        with self.session() as session:
            session.execute(text("SELECT 1"))
