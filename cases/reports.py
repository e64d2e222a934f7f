"""Filing reports and their attachments. Everything passed in is already sealed."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.envelope import Purpose, read_header
from crypto.errors import OpenError
from crypto.keys import key_id
from crypto.stream import CHUNK_SIZE

from . import errors
from .blobs import BlobStore, chunk_key
from .clock import today
from .ids import new_id
from .models import Attachment, AttachmentChunk, Case, IntakeKey, SealedIn, Status, StatusChange, Submission


class Rejected(errors.Invalid):
    """The sealed input is not acceptable (wrong purpose, unknown key); nothing was stored."""


@dataclass(frozen=True)
class Filed:
    case: Case
    created: bool  # False when a repeated submit found the case filed the first time


def check_envelope(session: Session, envelope: bytes, purpose: Purpose, recipient: bytes | None = None) -> str:
    """Refuse an envelope not sealed for ``purpose`` to ``recipient`` (any intake key if None).

    The server cannot open envelopes, but it can refuse ones addressed wrongly before storing
    them. Returns the recipient key id (hex).
    """
    try:
        header = read_header(envelope)
    except OpenError as exc:
        raise Rejected(str(exc)) from exc
    if header.purpose != purpose:
        raise Rejected(f"expected a sealed {purpose.label.decode()}")
    if recipient is not None:
        if header.key_id != key_id(recipient):
            raise Rejected("sealed to the wrong key")
    elif session.get(IntakeKey, header.key_id.hex()) is None:
        raise Rejected("sealed to a key this installation does not have")
    return header.key_id.hex()


def submission_key(client_nonce: str) -> str:
    return hashlib.sha256(b"rri/v1 submission " + client_nonce.encode()).hexdigest()


def file_report(
    session: Session,
    *,
    envelope: bytes,
    sealed_in: SealedIn,
    token_lookup: bytes,
    reporter_public_key: bytes,
    urgent: bool = False,
    client_nonce: str | None = None,
    receipt_box: bytes | None = None,
) -> Filed:
    """Store a sealed report as a new case; a repeated ``client_nonce`` returns the first case."""
    key = submission_key(client_nonce) if client_nonce else None
    if key is not None:
        existing = session.scalar(select(Case).where(Case.submission_key == key))
        if existing is not None:
            return Filed(existing, created=False)
    case = add_case(
        session,
        case_id=new_id(),
        day=today(),
        urgent=urgent,
        sealed_in=sealed_in,
        token_lookup=token_lookup,
        reporter_public_key=reporter_public_key,
        submission_key=key,
        receipt_box=receipt_box,
        intake_key_id=check_envelope(session, envelope, Purpose.REPORT),
        envelope=envelope,
    )
    return Filed(case, created=True)


def add_case(
    session: Session,
    *,
    case_id: str,
    day: dt.date,
    urgent: bool,
    sealed_in: SealedIn,
    token_lookup: bytes,
    reporter_public_key: bytes,
    submission_key: str | None,
    receipt_box: bytes | None,
    intake_key_id: str,
    envelope: bytes,
) -> Case:
    """The rows of a new case: the case, its sealed report and the first step of its timeline.
    Flushed before the report, so a racing copy of one submission fails on its unique key."""
    case = Case(
        id=case_id,
        status=Status.RECEIVED,
        urgent=urgent,
        received_on=day,
        updated_on=day,
        sealed_in=sealed_in,
        token_lookup=token_lookup,
        reporter_public_key=reporter_public_key,
        submission_key=submission_key,
        receipt_box=receipt_box,
        notify_pending=urgent,  # the caseworker side sends a content-free notice
    )
    session.add(case)
    session.flush()
    session.add(Submission(case_id=case_id, received_on=day, intake_key_id=intake_key_id, envelope=envelope))
    session.add(StatusChange(case_id=case_id, status=Status.RECEIVED, changed_on=day))
    return case


def find_by_lookup(session: Session, token_lookup: bytes) -> Case | None:
    return session.scalar(select(Case).where(Case.token_lookup == token_lookup))


def attach_file(
    session: Session,
    blobs: BlobStore,
    case: Case,
    manifest: bytes,
    chunks: list[bytes],
    message_id: int | None = None,
) -> Attachment:
    """Store a whole sealed file at once (no-JS uploads, demo data)."""
    attachment = start_attachment(session, case, manifest, len(chunks), message_id)
    for index, sealed in enumerate(chunks):
        put_chunk(session, blobs, attachment, index, sealed)
    return attachment


def start_attachment(
    session: Session,
    case: Case,
    manifest: bytes,
    chunk_count: int,
    message_id: int | None = None,
    upload_secret_hash: str | None = None,
) -> Attachment:
    if chunk_count < 1:
        raise Rejected("a file has at least one chunk")
    attachment = Attachment(
        upload_secret_hash=upload_secret_hash,
        id=new_id(),
        case_id=case.id,
        message_id=message_id,
        intake_key_id=check_envelope(session, manifest, Purpose.ATTACHMENT_MANIFEST),
        manifest=manifest,
        chunk_count=chunk_count,
        created_on=today(),
    )
    session.add(attachment)
    session.flush()
    return attachment


def put_chunk(session: Session, blobs: BlobStore, attachment: Attachment, index: int, sealed: bytes) -> None:
    """Store one sealed chunk; idempotent, so a retried upload of the same chunk is harmless.

    For the desk's tools and tests; the intake stores chunks through cases.intake_writes.
    """
    if not 0 <= index < attachment.chunk_count:
        raise Rejected(f"chunk {index} is outside this file's {attachment.chunk_count} chunks")
    if attachment.complete:
        return  # a complete file never changes: a retry stores nothing
    if not chunk_fits(index, attachment.chunk_count, len(sealed)):
        raise Rejected(f"chunk {index} of {len(sealed)} bytes does not fit its place in the file")
    blobs.put(chunk_key(attachment.id, index), sealed)
    if session.get(AttachmentChunk, (attachment.id, index)) is None:
        session.add(AttachmentChunk(attachment_id=attachment.id, index=index, size=len(sealed)))
        session.flush()
    attachment.complete = len(present_chunks(session, attachment)) == attachment.chunk_count


def chunk_fits(index: int, chunk_count: int, size: int) -> bool:
    """Every sealed chunk but the last is full (plaintext plus the AES-GCM tag); the last holds
    at least its tag."""
    full = CHUNK_SIZE + 16
    if not 0 <= index < chunk_count or not 16 <= size <= full:
        return False
    return index == chunk_count - 1 or size == full


def present_chunks(session: Session, attachment: Attachment) -> list[int]:
    """Which chunks the server has: what a resuming client asks for."""
    return present_chunks_of(session, attachment.id)


def present_chunks_of(session: Session, attachment_id: str) -> list[int]:
    return list(
        session.scalars(
            select(AttachmentChunk.index)
            .where(AttachmentChunk.attachment_id == attachment_id)
            .order_by(AttachmentChunk.index)
        )
    )


def read_chunks(blobs: BlobStore, attachment: Attachment) -> list[bytes]:
    return [blobs.get(chunk_key(attachment.id, i)) for i in range(attachment.chunk_count)]
