"""The audit trail is hash-chained: any edit, deletion or reordering is found and located."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, text

from cases import audit
from cases.db import Database
from cases.models import AuditEvent


def _fill(database) -> list[int]:
    with database.session() as session:
        return [audit.record(session, f"case.view.{i}", actor_id=1, case_id="abc", detail=str(i)).id for i in range(5)]


def test_an_untouched_chain_verifies(database) -> None:
    _fill(database)
    with database.session() as session:
        assert audit.verify(session) is None


def test_an_edited_event_is_named(database) -> None:
    ids = _fill(database)
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET detail = 'nothing to see' WHERE id = :id"), {"id": ids[2]})
    with database.session() as session:
        assert audit.verify(session) == ids[2]


def test_a_deleted_event_breaks_the_next_link(database) -> None:
    ids = _fill(database)
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    with database.session() as session:
        assert audit.verify(session) == ids[2]


def test_concurrent_appends_keep_one_chain(database: Database) -> None:
    """Two desk actions at once must not both link to the same predecessor (a fork)."""
    threads, per_thread = 8, 5
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def act(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with database.session() as session:
                    audit.record(session, "case.view", actor_id=n, case_id="abc", detail=str(i))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=act, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    with database.session() as session:
        assert audit.verify(session) is None
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == threads * per_thread
