"""An append-only, hash-chained audit trail of staff actions.

Each event's hash covers the previous event's hash and the event's own fields in a canonical
encoding, so deleting, reordering or editing any event breaks every link after it, and
``verify`` names the first broken one. Details must never contain what a person wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from .clock import now
from .models import AuditEvent

GENESIS = "0" * 64


def _digest(
    prev_hash: str, at: dt.datetime, actor_id: int | None, action: str, case_id: str | None, detail: str
) -> str:
    stamp = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    body = json.dumps([prev_hash, stamp, actor_id, action, case_id, detail], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session, action: str, *, actor_id: int | None = None, case_id: str | None = None, detail: str = ""
) -> AuditEvent:
    last = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1).with_for_update())
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
