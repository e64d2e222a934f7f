"""Retention: closed cases are deleted, with every row and blob, some days after closing.

What deleting achieves, precisely. Everything a person wrote about a case exists only as
ciphertext: HPKE envelopes in its rows (report, messages, replies, status explanations, notes,
triage, attachment manifests) and AES-GCM chunks in the blob store. Each envelope carries its own
ephemeral HPKE key encapsulation, and the per-file AES key of an attachment travels only inside
its sealed manifest. Deleting the rows (the foreign keys cascade from ``cases``; SQLite runs with
``secure_delete=ON`` so freed pages are overwritten) and the chunk files removes this
installation's live copies.

What it does not achieve. Any backup taken while the case existed still holds the same sealed
envelopes and manifests, and the intake private keys (wrapped to every caseworker and to the
recovery key) still open them. A stray copy of the chunks alone, without the manifests, is bound
to no key anyone holds. So a case is really gone only once every backup that contains it has
been rotated away, or once the intake keys that sealed it are destroyed everywhere; set backup
retention accordingly. PostgreSQL keeps dead tuples until VACUUM and WAL until recycled, and
filesystems and SSDs may keep freed blocks: retention is no substitute for disk encryption.

The audit trail keeps one "case.delete" event per case (random case id, no content).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from . import audit
from .blobs import BlobStore
from .clock import today
from .db import Database
from .models import Attachment, Case, Status


@dataclass(frozen=True)
class Expired:
    case_id: str
    closed_on: dt.date
    files: int


def check_days(raw: str | int, name: str = "--days") -> int:
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of days, not {raw!r}") from None
    if days < 1:
        raise ValueError(f"{name} must be at least 1 (a case closed today is never deleted)")
    return days


def _cutoff(days: int, on: dt.date | None) -> dt.date:
    return (on or today()) - dt.timedelta(days=days)


def _is_expired(cutoff: dt.date) -> ColumnElement[bool]:
    return (Case.status == Status.CLOSED) & Case.closed_on.is_not(None) & (Case.closed_on < cutoff)


def expired(session: Session, days: int, on: dt.date | None = None) -> list[Expired]:
    """Closed cases whose closing day is more than ``days`` days before ``on`` (today)."""
    files = select(Attachment.case_id, func.count().label("files")).group_by(Attachment.case_id).subquery()
    rows = session.execute(
        select(Case.id, Case.closed_on, func.coalesce(files.c.files, 0))
        .outerjoin(files, files.c.case_id == Case.id)
        .where(_is_expired(_cutoff(days, on)))
        .order_by(Case.closed_on, Case.id)
    )
    return [Expired(case_id, closed_on, n) for case_id, closed_on, n in rows]


def erase(session: Session, blobs: BlobStore, case_id: str) -> None:
    """Delete one case's rows and blobs, in the caller's transaction.

    Rows go first (inside the transaction) and chunk files next: if removing a file fails, the
    transaction rolls back and the next run tries again, so no chunk is ever left behind without
    its row. A case whose files are gone but whose rows stayed is still a case to delete.
    """
    attachment_ids = list(session.scalars(select(Attachment.id).where(Attachment.case_id == case_id)))
    session.execute(delete(Case).where(Case.id == case_id))  # every child row cascades
    session.flush()
    for attachment_id in attachment_ids:
        blobs.delete_prefix(f"att/{attachment_id}")
    audit.record(session, "case.delete", case_id=case_id, detail="retention")


def purge(db: Database, blobs: BlobStore, days: int, on: dt.date | None = None) -> list[Expired]:
    """Erase every expired case, one transaction each, so a failure part-way keeps the progress.

    Each case is checked again, locked, in its own transaction: one reopened meanwhile stays.
    """
    cutoff = _cutoff(days, on)
    with db.session() as session:
        candidates = expired(session, days, on)
    gone = []
    for case in candidates:
        with db.session() as session:
            still = select(Case.id).where(Case.id == case.case_id, _is_expired(cutoff)).with_for_update()
            if session.scalar(still) is not None:
                erase(session, blobs, case.case_id)
                gone.append(case)
    return gone
