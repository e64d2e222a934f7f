"""The reporter's side of a case: timeline, the two-way thread, follow-ups, closing the channel.

Everything here is sealed. Reporter-visible text (replies, status explanations, the reporter's
own copy of what they sent) is sealed to the reporter's token-derived key, with the case id as
context, so it opens only while the token is presented and only on this case. Each item also has
a team copy sealed to the current intake key, so caseworkers read the whole thread.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.envelope import Purpose, seal
from crypto.envelope import open_envelope as open_
from crypto.errors import OpenError
from crypto.keys import KeyPair

from .clock import today
from .intake_keys import current
from .models import Attachment, Case, Direction, Message, Status, StatusChange
from .reports import Rejected, check_envelope


class HasId(Protocol):
    @property
    def id(self) -> str: ...


def context(case: HasId | str, what: str = "") -> bytes:
    """What a case's envelopes are bound to (protocol §5.3): its id, and which part they are."""
    case_id = case if isinstance(case, str) else case.id
    return f"case:{case_id}{'/' + what if what else ''}".encode()


@dataclass(frozen=True)
class Step:
    status: Status
    on: dt.date
    explanation: str | None


@dataclass(frozen=True)
class Entry:
    direction: Direction
    on: dt.date
    text: str | None  # None if it cannot be opened any more (channel deleted, older key)
    files: int


@dataclass(frozen=True)
class ReporterView:
    case: Case
    timeline: list[Step]
    thread: list[Entry]


def _open_text(reporter: KeyPair, purpose: Purpose, envelope: bytes | None, ctx: bytes) -> str | None:
    if envelope is None:
        return None
    try:
        return open_(reporter.private, purpose, envelope, context=ctx).decode("utf-8")
    except (OpenError, UnicodeDecodeError):
        return None


def view(session: Session, case: Case, reporter: KeyPair) -> ReporterView:
    steps = session.scalars(select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.id))
    timeline = [
        Step(s.status, s.changed_on, _open_text(reporter, Purpose.REPLY, s.reporter_envelope, context(case, "status")))
        for s in steps
    ]
    files: dict[int | None, int] = {}
    for message_id in session.scalars(select(Attachment.message_id).where(Attachment.case_id == case.id)):
        files[message_id] = files.get(message_id, 0) + 1
    thread = [
        Entry(
            m.direction,
            m.sent_on,
            _open_text(
                reporter,
                Purpose.REPLY if m.direction is Direction.TO_REPORTER else Purpose.MESSAGE,
                m.reporter_envelope,
                context(case),
            ),
            files.get(m.id, 0),
        )
        for m in session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    ]
    return ReporterView(case, timeline, thread)


def add_follow_up(session: Session, case: Case, team_envelope: bytes, reporter_envelope: bytes | None) -> Message:
    """Store a reporter's follow-up, sealed by the browser or by the server in memory."""
    check_envelope(session, team_envelope, Purpose.MESSAGE)
    if reporter_envelope is not None:
        if case.reporter_public_key is None:
            raise Rejected("this case's reply channel was deleted")
        check_envelope(session, reporter_envelope, Purpose.MESSAGE, case.reporter_public_key)
    message = Message(
        case_id=case.id,
        direction=Direction.FROM_REPORTER,
        sent_on=today(),
        team_envelope=team_envelope,
        reporter_envelope=reporter_envelope,
    )
    session.add(message)
    case.updated_on = today()
    case.notify_pending = True  # the assigned caseworkers get a content-free notice
    session.flush()
    return message


def seal_follow_up(session: Session, case: Case, text: str) -> tuple[bytes, bytes | None]:
    """Server-side sealing for the no-JavaScript path: team copy and the reporter's own copy."""
    body = text.encode("utf-8")
    team = seal(current(session).public_key, Purpose.MESSAGE, body, context=context(case))
    mine = (
        seal(case.reporter_public_key, Purpose.MESSAGE, body, context=context(case))
        if case.reporter_public_key
        else None
    )
    return team, mine


def reply(session: Session, case: Case, text: str, author_id: int | None) -> Message:
    """A caseworker's reply: sealed to the reporter's key, with a team copy."""
    if case.reporter_public_key is None:
        raise Rejected("the reporter deleted their reply channel")
    body = text.encode("utf-8")
    message = Message(
        case_id=case.id,
        direction=Direction.TO_REPORTER,
        sent_on=today(),
        author_id=author_id,
        team_envelope=seal(current(session).public_key, Purpose.REPLY, body, context=context(case)),
        reporter_envelope=seal(case.reporter_public_key, Purpose.REPLY, body, context=context(case)),
    )
    session.add(message)
    case.updated_on = today()
    session.flush()
    return message


def change_status(
    session: Session, case: Case, status: Status, explanation: str = "", author_id: int | None = None
) -> StatusChange:
    """Move the case along the reporter-visible timeline, with an optional sealed explanation."""
    body = explanation.encode("utf-8")
    change = StatusChange(
        case_id=case.id,
        status=status,
        changed_on=today(),
        author_id=author_id,
        team_envelope=seal(current(session).public_key, Purpose.REPLY, body, context(case, "status")) if body else None,
        reporter_envelope=(
            seal(case.reporter_public_key, Purpose.REPLY, body, context(case, "status"))
            if body and case.reporter_public_key
            else None
        ),
    )
    session.add(change)
    case.status = status
    case.updated_on = today()
    if status is Status.CLOSED:
        case.closed_on = today()
    if case.acknowledged_on is None and status is not Status.RECEIVED:
        case.acknowledged_on = today()
    session.flush()
    return change


def delete_channel(session: Session, case: Case) -> None:
    """The reporter closes their side: their copies are erased and the token stops working.

    The case itself stays with the caseworkers (team copies are untouched); a token found later
    on a seized device or paper then opens nothing. The intake does the same through
    cases.intake_writes; this ORM form serves the desk's tools and tests.
    """
    for message in session.scalars(select(Message).where(Message.case_id == case.id)):
        message.reporter_envelope = None
    for change in session.scalars(select(StatusChange).where(StatusChange.case_id == case.id)):
        change.reporter_envelope = None
    for attachment in session.scalars(select(Attachment).where(Attachment.case_id == case.id)):
        attachment.upload_secret_hash = None  # unfinished uploads end with the channel
    case.reporter_public_key = None
    case.token_lookup = os.urandom(32)
    case.receipt_box = None
    session.flush()
