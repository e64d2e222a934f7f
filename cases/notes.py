"""Internal notes: what caseworkers write to each other about a case, never shown to the reporter.

A note is sealed to the current intake key, bound to its case, before it reaches the database.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crypto.envelope import Purpose, seal

from .clock import today
from .conversation import context
from .intake_keys import current
from .models import Case, Note


def note_context(case: Case) -> bytes:
    return context(case, "note")


def add(session: Session, case: Case, text: str, author_id: int | None) -> Note:
    envelope = seal(current(session).public_key, Purpose.NOTE, text.encode("utf-8"), context=note_context(case))
    note = Note(case_id=case.id, author_id=author_id, created_on=today(), envelope=envelope)
    session.add(note)
    session.flush()
    return note
