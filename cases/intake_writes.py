"""Every database write the intake makes, each gated by the capability it proves.

On PostgreSQL the intake's role may not write any table itself (deploy/postgres-intake-role.sql):
these calls go to the SECURITY DEFINER functions of migrations 0004 and 0007 (details), which
check the capability and write nothing else. On SQLite (no roles) the same steps run here with the ORM, with the same
semantics, so both backends behave alike in tests and in small installations.

Capabilities: a new case needs nothing but is only ever new (a repeated submission key returns
the first case untouched); an existing case is reached only by its token's lookup hash; a file's
chunks only with its upload secret, and only until the file is complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from . import errors
from .models import Attachment, AttachmentChunk, Case, Direction, Message, ReportDetails, SealedIn, StatusChange
from .reports import Rejected, add_case, chunk_fits


class NoCapability(errors.Refused):
    """The secret does not open this upload, or the upload is over."""


class BadChunk(errors.Invalid):
    """A chunk outside the file, or whose size does not fit its position."""


@dataclass(frozen=True)
class NewUpload:
    id: str
    manifest: bytes
    chunk_count: int
    secret_hash: str
    intake_key_id: str


@dataclass(frozen=True)
class UploadState:
    chunk_count: int
    complete: bool


def secret_hash(secret: str) -> str:
    return hashlib.sha256(b"rri/v1 upload " + secret.encode()).hexdigest()


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _upload_arrays(uploads: list[NewUpload]) -> dict[str, list[str] | list[bytes] | list[int]]:
    return {
        "ids": [u.id for u in uploads],
        "manifests": [u.manifest for u in uploads],
        "chunks": [u.chunk_count for u in uploads],
        "hashes": [u.secret_hash for u in uploads],
        "keys": [u.intake_key_id for u in uploads],
    }


_FILE_CASE = text(
    "SELECT o_case_id, o_created FROM intake_file_case(:id, :submission, :urgent, :sealed_in, :lookup, :reporter, "
    ":box, :key, :envelope, :day, CAST(:ids AS text[]), CAST(:manifests AS bytea[]), CAST(:chunks AS integer[]), "
    "CAST(:hashes AS text[]), CAST(:keys AS text[]))"
)
_FOLLOW_UP = text(
    "SELECT intake_follow_up(:lookup, :team, :mine, :day, CAST(:ids AS text[]), CAST(:manifests AS bytea[]), "
    "CAST(:chunks AS integer[]), CAST(:hashes AS text[]), CAST(:keys AS text[]))"
)


def _add_uploads(
    session: Session, case_id: str, message_id: int | None, day: dt.date, uploads: list[NewUpload]
) -> None:
    if any(u.chunk_count < 1 for u in uploads):
        raise BadChunk("a file has at least one chunk")
    for u in uploads:
        session.add(
            Attachment(
                id=u.id,
                case_id=case_id,
                message_id=message_id,
                intake_key_id=u.intake_key_id,
                manifest=u.manifest,
                chunk_count=u.chunk_count,
                upload_secret_hash=u.secret_hash,
                complete=False,
                created_on=day,
            )
        )


def file_case(
    session: Session,
    *,
    case_id: str,
    submission_key: str,
    urgent: bool,
    sealed_in: SealedIn,
    token_lookup: bytes,
    reporter_public_key: bytes,
    receipt_box: bytes,
    intake_key_id: str,
    envelope: bytes,
    day: dt.date,
    uploads: list[NewUpload],
) -> tuple[str, bool]:
    """(id of the case holding this submission, whether this call created it)."""
    if _postgres(session):
        row = session.execute(
            _FILE_CASE,
            {
                "id": case_id,
                "submission": submission_key,
                "urgent": urgent,
                "sealed_in": sealed_in.value,
                "lookup": token_lookup,
                "reporter": reporter_public_key,
                "box": receipt_box,
                "key": intake_key_id,
                "envelope": envelope,
                "day": day,
                **_upload_arrays(uploads),
            },
        ).one()
        return str(row[0]), bool(row[1])
    existing = session.scalar(select(Case.id).where(Case.submission_key == submission_key))
    if existing is not None:
        return existing, False
    add_case(
        session,
        case_id=case_id,
        day=day,
        urgent=urgent,
        sealed_in=sealed_in,
        token_lookup=token_lookup,
        reporter_public_key=reporter_public_key,
        submission_key=submission_key,
        receipt_box=receipt_box,
        intake_key_id=intake_key_id,
        envelope=envelope,
    )
    _add_uploads(session, case_id, None, day, uploads)
    session.flush()
    return case_id, True


def open_case(session: Session, token_lookup: bytes) -> str | None:
    """The case this token opens, its receipt box erased (the token reached its owner)."""
    if _postgres(session):
        found = session.scalar(text("SELECT intake_open_case(:lookup)"), {"lookup": token_lookup})
        return None if found is None else str(found)
    case = session.scalar(select(Case).where(Case.token_lookup == token_lookup))
    if case is None:
        return None
    case.receipt_box = None
    return case.id


def follow_up(
    session: Session,
    token_lookup: bytes,
    team: bytes,
    mine: bytes | None,
    day: dt.date,
    uploads: list[NewUpload],
) -> int | None:
    """Add a reporter's message (and its files) to the case the token opens; its id, or None."""
    if _postgres(session):
        found = session.scalar(
            _FOLLOW_UP,
            {"lookup": token_lookup, "team": team, "mine": mine, "day": day, **_upload_arrays(uploads)},
        )
        return None if found is None else int(found)
    case = session.scalar(select(Case).where(Case.token_lookup == token_lookup))
    if case is None:
        return None
    if mine is not None and case.reporter_public_key is None:
        raise Rejected("this case's reply channel was deleted")
    message = Message(
        case_id=case.id, direction=Direction.FROM_REPORTER, sent_on=day, team_envelope=team, reporter_envelope=mine
    )
    session.add(message)
    case.updated_on = day
    case.notify_pending = True  # the assigned caseworkers get a content-free notice
    session.flush()
    _add_uploads(session, case.id, message.id, day, uploads)
    session.flush()
    return message.id


def add_details(session: Session, token_lookup: bytes, intake_key_id: str, envelope: bytes, day: dt.date) -> int | None:
    """Add sealed details (answers given after the report) to the case the token opens; their
    id, or None. Only ever a new row: nothing earlier is changed (migration 0007)."""
    if _postgres(session):
        found = session.scalar(
            text("SELECT intake_add_details(:lookup, :key, :envelope, :day)"),
            {"lookup": token_lookup, "key": intake_key_id, "envelope": envelope, "day": day},
        )
        return None if found is None else int(found)
    case = session.scalar(select(Case).where(Case.token_lookup == token_lookup))
    if case is None:
        return None
    details = ReportDetails(case_id=case.id, received_on=day, intake_key_id=intake_key_id, envelope=envelope)
    session.add(details)
    case.updated_on = day
    case.notify_pending = True  # the assigned caseworkers get a content-free notice
    session.flush()
    return details.id


def delete_channel(session: Session, token_lookup: bytes) -> bool:
    """Erase the reporter's copies and end the token and every upload capability of its case."""
    if _postgres(session):
        return bool(session.scalar(text("SELECT intake_delete_channel(:lookup)"), {"lookup": token_lookup}))
    case = session.scalar(select(Case).where(Case.token_lookup == token_lookup))
    if case is None:
        return False
    session.execute(update(Message).where(Message.case_id == case.id).values(reporter_envelope=None))
    session.execute(update(StatusChange).where(StatusChange.case_id == case.id).values(reporter_envelope=None))
    session.execute(update(Attachment).where(Attachment.case_id == case.id).values(upload_secret_hash=None))
    case.reporter_public_key = None
    case.token_lookup = os.urandom(32)
    case.receipt_box = None
    session.flush()
    return True


def _sqlite_attachment(session: Session, attachment_id: str, secret: str) -> Attachment | None:
    # Writing first takes SQLite's write lock, so one file's chunks are recorded one at a time.
    session.execute(update(Attachment).where(Attachment.id == attachment_id).values(complete=Attachment.complete))
    attachment = session.get(Attachment, attachment_id, populate_existing=True)
    if attachment is None or attachment.upload_secret_hash is None:
        return None
    return attachment if hmac.compare_digest(attachment.upload_secret_hash, secret_hash(secret)) else None


def lock_upload(session: Session, attachment_id: str, secret: str) -> UploadState:
    """Check the capability and hold the file's row until the transaction ends."""
    if _postgres(session):
        row = session.execute(
            text("SELECT o_chunk_count, o_complete FROM intake_lock_upload(:id, :secret)"),
            {"id": attachment_id, "secret": secret},
        ).one()
        if row[0] is None:
            raise NoCapability()
        return UploadState(int(row[0]), bool(row[1]))
    attachment = _sqlite_attachment(session, attachment_id, secret)
    if attachment is None:
        raise NoCapability()
    return UploadState(attachment.chunk_count, attachment.complete)


def record_chunk(session: Session, attachment_id: str, secret: str, index: int, size: int) -> bool:
    """Record a stored chunk; True once the file is complete (then it never changes again)."""
    if _postgres(session):
        state = lock_upload(session, attachment_id, secret)
        if not state.complete and not chunk_fits(index, state.chunk_count, size):
            raise BadChunk(f"chunk {index} of {size} bytes does not fit a file of {state.chunk_count} chunks")
        return bool(
            session.scalar(
                text("SELECT intake_record_chunk(:id, :secret, :index, :size)"),
                {"id": attachment_id, "secret": secret, "index": index, "size": size},
            )
        )
    attachment = _sqlite_attachment(session, attachment_id, secret)
    if attachment is None:
        raise NoCapability()
    if attachment.complete:
        return True
    if not chunk_fits(index, attachment.chunk_count, size):
        raise BadChunk(f"chunk {index} of {size} bytes does not fit a file of {attachment.chunk_count} chunks")
    present = session.get(AttachmentChunk, (attachment_id, index))
    if present is None:
        session.add(AttachmentChunk(attachment_id=attachment_id, index=index, size=size))
    else:
        present.size = size
    session.flush()
    have = session.scalar(
        select(func.count()).select_from(AttachmentChunk).where(AttachmentChunk.attachment_id == attachment_id)
    )
    attachment.complete = have == attachment.chunk_count
    return attachment.complete
