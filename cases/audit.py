"""An append-only, hash-chained audit trail of staff actions.

Each event's hash covers the previous event's hash and the event's own fields in a canonical
encoding, so deleting, reordering or editing any event breaks every link after it, and
``verify`` names the first broken one. Details must never contain what a person wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .clock import now
from .models import AuditEvent

GENESIS = "0" * 64
_APPEND_LOCK = 0x52524941  # "RRIA": the advisory lock id that serialises appends on PostgreSQL


def _serialise_appends(session: Session) -> None:
    """Hold the database's write lock before reading the chain's end, until this transaction ends.

    Without it, two appends at once read the same last event and the chain forks. On
    PostgreSQL, FOR UPDATE on the last row is not enough: the waiter re-reads that same row.
    pysqlite runs reads outside a transaction until the first write, so on SQLite a no-op
    write comes first and takes the database's write lock (other appends wait busy_timeout).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    else:
        session.execute(text("UPDATE audit_events SET id = id WHERE 0"))


def _digest(
    prev_hash: str, at: dt.datetime, actor_id: int | None, action: str, case_id: str | None, detail: str
) -> str:
    stamp = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    body = json.dumps([prev_hash, stamp, actor_id, action, case_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session, action: str, *, actor_id: int | None = None, case_id: str | None = None, detail: str = ""
) -> AuditEvent:
    _serialise_appends(session)
    last = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    prev = last.hash if last else GENESIS
    at = now()
    event = AuditEvent(
        at=at,
        actor_id=actor_id,
        action=action,
        case_id=case_id,
        detail=detail,
        prev_hash=prev,
        hash=_digest(prev, at, actor_id, action, case_id, detail),
    )
    session.add(event)
    session.flush()
    return event


def verify(session: Session) -> int | None:
    """The id of the first event whose link is broken, or None if the whole chain holds."""
    prev = GENESIS
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=dt.UTC)
        expected = _digest(prev, at, event.actor_id, event.action, event.case_id, event.detail)
        if event.prev_hash != prev or event.hash != expected:
            return event.id
        prev = event.hash
    return None
