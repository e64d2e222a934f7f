"""The data model. In clear: only what the server needs to run.

Clear columns are workflow state (status, urgency, assignment), day-granular dates, key ids and
lookup hashes. Every column holding something a person wrote is an envelope (crypto.envelope) or
a locked key; large ciphertext lives in the blob store. Dates are ``Date``, never ``DateTime``,
wherever they describe a reporter's action, so the database cannot be used to correlate a report
with network logs. Staff-side records (sessions, audit) keep full timestamps.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value needs no type migration.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    ADMIN = "admin"
    CASEWORKER = "caseworker"
    ANALYST = "analyst"


class Status(enum.StrEnum):
    """The stages a reporter sees on their timeline."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    NEED_INFO = "need_info"
    ACTION_TAKEN = "action_taken"
    CLOSED = "closed"


class SealedIn(enum.StrEnum):
    BROWSER = "browser"  # sealed by seal.js before it left the device
    SERVER = "server"  # no-JavaScript path: sealed in server memory before storage


class Direction(enum.StrEnum):
    FROM_REPORTER = "from_reporter"
    TO_REPORTER = "to_reporter"


class Setting(Base):
    """Installation-wide public facts (e.g. the recovery public key)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))


class IntakeKey(Base):
    """A key pair reports are sealed to. Only the public half is here; the private half exists
    only as wraps (WrappedKey) to caseworkers and the recovery key."""

    __tablename__ = "intake_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # hex key id
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    created_on: Mapped[dt.date] = mapped_column(Date)
    retired_on: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Caseworker(Base):
    __tablename__ = "caseworkers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_enum(Role))
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    locked_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(256), default=None)  # sealed
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # Where content-free notifications go (optional); staff data, not reporter data.
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    # The language the desk labels reports in (a code from the intake catalogues).
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Login throttling survives restarts and is shared by every worker process.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WrappedKey(Base):
    """An intake private key sealed (purpose key-wrap) to a caseworker's or the recovery key."""

    __tablename__ = "wrapped_keys"
    __table_args__ = (UniqueConstraint("intake_key_id", "recipient_key_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intake_key_id: Mapped[str] = mapped_column(ForeignKey("intake_keys.id"))
    recipient_key_id: Mapped[str] = mapped_column(String(16), index=True)
    caseworker_id: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="CASCADE"))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # random, not sequential
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.RECEIVED, index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    received_on: Mapped[dt.date] = mapped_column(Date, index=True)
    updated_on: Mapped[dt.date] = mapped_column(Date)
    acknowledged_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="SET NULL"), index=True)
    sealed_in: Mapped[SealedIn] = mapped_column(_enum(SealedIn))
    # Deferred: the intake's database role may not read it (a lookup is a capability).
    token_lookup: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, deferred=True)
    # None once the reporter deletes their reply channel.
    reporter_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(65))
    # Hash of the client's submission id, so a repeated submit returns the same case.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The caseworkers' triage (verification, act types, perpetrator, referrals, ...): an envelope
    # of purpose triage to an intake key.
    triage_envelope: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The inbox index entry (country, act types, UN link, ...) under the symmetric index key
    # (cases.inbox_index); filled after a caseworker unlocks, so the inbox opens fast.
    index_blob: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Set by intake when an urgent case or a reporter's message arrives; cleared once the
    # caseworker side has sent its content-free notification.
    notify_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # The token, AES-GCM-encrypted under a key derived from that submission id (which is never
    # stored), so a repeated submit can show the same token again; erased once the token is used.
    receipt_box: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class Submission(Base):
    """The sealed report itself (purpose report, to an intake key)."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    received_on: Mapped[dt.date] = mapped_column(Date)
    intake_key_id: Mapped[str] = mapped_column(ForeignKey("intake_keys.id"))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class ReportDetails(Base):
    """Answers the reporter added later ("Add details"): an envelope of purpose details, to an
    intake key, bound to ``case:<id>/details``. Only ever inserted (by the intake, through its
    capability-checked function); the desk merges them over the report's answers in order, and
    marks them read (``read_on``) when a caseworker opens the case, like the reporter's messages."""

    __tablename__ = "report_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    received_on: Mapped[dt.date] = mapped_column(Date)
    intake_key_id: Mapped[str] = mapped_column(ForeignKey("intake_keys.id"))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    read_on: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Message(Base):
    """A follow-up from the reporter, or a reply to them.

    ``team_envelope`` is sealed to an intake key so every caseworker can read the thread;
    ``reporter_envelope`` (replies only) is sealed to the reporter's token-derived key.
    """

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="SET NULL"))
    team_envelope: Mapped[bytes] = mapped_column(LargeBinary)
    reporter_envelope: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    read_on: Mapped[dt.date | None] = mapped_column(Date, default=None)


class StatusChange(Base):
    """One step of the reporter-visible timeline, with an optional sealed explanation."""

    __tablename__ = "status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[Status] = mapped_column(_enum(Status))
    changed_on: Mapped[dt.date] = mapped_column(Date)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="SET NULL"))
    team_envelope: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    reporter_envelope: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class Note(Base):
    """An internal caseworker note, sealed to an intake key (purpose note)."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("caseworkers.id", ondelete="SET NULL"))
    created_on: Mapped[dt.date] = mapped_column(Date)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    """A file: sealed manifest here, sealed chunks in the blob store (see cases.blobs)."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    intake_key_id: Mapped[str] = mapped_column(ForeignKey("intake_keys.id"))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    chunk_count: Mapped[int] = mapped_column(Integer)  # declared by the uploader, to resume
    # SHA-256 of the capability the uploader got for sending this file's chunks.
    # Deferred, like Case.token_lookup: the intake's role may not read it.
    upload_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None, deferred=True)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[dt.date] = mapped_column(Date)


class AttachmentChunk(Base):
    __tablename__ = "attachment_chunks"
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)


class StaffSession(Base):
    """A caseworker login. The unlocked key never comes here: it stays in the app's memory."""

    __tablename__ = "staff_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie value
    caseworker_id: Mapped[int] = mapped_column(ForeignKey("caseworkers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only, hash-chained record of staff actions (cases.audit)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the trail outlives accounts
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(String(512), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class SpentChallenge(Base):
    """A proof-of-work challenge already used: one solution buys one request, in every worker.

    Only a hash of the challenge and the day after which it expires anyway; purged by day.
    """

    __tablename__ = "spent_challenges"
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_on: Mapped[dt.date] = mapped_column(Date, index=True)
    # SHA-256 of the challenge with the submission nonce it paid for, so that a copy of that
    # submit (a double tap on another worker) can be told apart from a replay.
    paid_for: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)


class PublicStatistics(Base):
    """The last public statistics a staff member computed, for analysts, who hold no key.

    In clear on purpose: only suppressed counts over cases whose reporters allowed publication
    (cases.statistics). One row, replaced whole; the intake's role may not read it.
    """

    __tablename__ = "public_statistics"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    aggregate: Mapped[str] = mapped_column(Text)  # JSON, as cases.statistics.publish returns it
