"""Reading a case: opening its sealed parts and labelling them for a person.

Shared by the case file (``cases.casefile``), the inbox index and the statistics. Whatever is
opened here is reporter or caseworker text: callers only ever print it escaped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.envelope import Purpose, open_envelope
from crypto.errors import OpenError
from crypto.keys import PrivateKey
from crypto.stream import Manifest

from . import bounded_json, countries, report_schema
from .consent import AFFECTED_FIELDS, FIELDS, Consent
from .languages import DEFAULT
from .languages import catalogue as catalogue
from .models import Attachment, Case, Caseworker, Submission
from .questionnaire import DANGER, QUESTIONS, SECTIONS, Question
from .report_schema import Report

# What a case or attachment id can look like (base32 from cases.ids): anything else, a NUL byte
# included (PostgreSQL refuses it in a query), is simply not found.
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,24}")
CHOICE_KINDS = ("one", "many")
CONSENT_FIELDS = (*FIELDS, *AFFECTED_FIELDS)  # shown together, apart from the other answers

Keys = dict[bytes, PrivateKey]  # intake private keys by key id
Names = dict[int, str]  # usernames by caseworker id
Translate = Callable[[str], str]
Labelled = list[tuple[str, list[tuple[Question, list[str]]]]]  # (section title, [(question, lines)])


# --- labels --------------------------------------------------------------------------------


def answered(value: object) -> bool:
    return value not in (None, "", [], {})


def display(question: Question, value: object, tr: Translate, lang: str = DEFAULT) -> list[str]:
    """An answer as lines in the caseworker's language: choices labelled, values we do not
    know as given, blanks left out (so an unanswered question shows nothing). A country is
    named in ``lang`` with its code, "Kenya (KE)"; a place not in the list as written."""
    if not answered(value):
        return []
    if question.kind == "country":
        return [countries.label(country, lang)] if (country := countries.canonical(value)) else []
    labels = {c.value: c.label for c in question.choices} if question.kind in CHOICE_KINDS else {}
    values = value if isinstance(value, list | tuple) else [value]
    return [tr(labels[v]) if v in labels else str(v) for v in values if v not in (None, "")]


def answer_sections(
    answers: Mapping[str, Any], tr: Translate, *, leave_out: Iterable[str] = (), lang: str = DEFAULT
) -> Labelled:
    """Every answered question of the form, in its order, section by section (titles translated).

    The danger question stands before the first section, untitled. Keys the form does not know
    are left out, as docs/protocol.md asks of readers.
    """
    skip = frozenset(leave_out)
    sections = []
    for title, questions in (("", (DANGER,)), *((s.title, s.questions) for s in SECTIONS)):
        rows = [
            (q, shown) for q in questions if q.name not in skip and (shown := display(q, answers.get(q.name), tr, lang))
        ]
        if rows:
            sections.append((tr(title) if title else "", rows))
    return sections


class ConsentRow(NamedTuple):
    """One consent as shown: the question, the reporter's answer (None: none), for a report sent
    on someone's behalf the person affected's answer, and whether it counts as given, decided by
    ``Consent`` exactly as the referral checks decide it."""

    name: str
    label: str
    said: str | None
    given: bool
    affected_said: str | None = None


def _said(name: str, answers: Mapping[str, Any], tr: Translate) -> str | None:
    value = answers.get(name)
    shown = display(QUESTIONS[name], value, tr) if isinstance(value, str) else []
    return shown[0] if shown else None


def consent_rows(answers: Mapping[str, Any], tr: Translate) -> list[ConsentRow]:
    """The three consents as answered; a missing answer is consent not given.

    Every page decides "given" exactly as the referral checks do, so a printed case can never
    show a consent that the desk itself would refuse to act on.
    """
    consent = Consent.from_answers(answers)
    rows = []
    for name, affected, given in zip(FIELDS, AFFECTED_FIELDS, consent.given(), strict=True):
        theirs = _said(affected, answers, tr) if consent.on_behalf else None
        rows.append(ConsentRow(name, tr(QUESTIONS[name].label), _said(name, answers, tr), given, theirs))
    return rows


# --- opening sealed parts ------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """A sealed text as opened: its text, or why it cannot be read. ``text`` is None both when
    nothing was sealed (then ``problem`` is None too) and when it cannot be opened."""

    text: str | None
    problem: str | None = None

    @property
    def readable(self) -> bool:
        return self.problem is None


NOTHING = Sealed(None)
NOT_YOUR_KEY = "sealed to a key you do not hold"


def open_sealed(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes = b"") -> Sealed:
    """The one way a caseworker's page opens sealed text. Bytes that are not UTF-8 (a hostile
    client's) are shown as U+FFFD rather than hiding the rest."""
    if envelope is None:
        return NOTHING
    try:
        return Sealed(open_envelope(keys, purpose, envelope, context=ctx).decode("utf-8", errors="replace"))
    except OpenError:
        return Sealed(None, NOT_YOUR_KEY)


def open_json(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes = b"") -> dict[str, Any] | None:
    """A sealed JSON object (parsed within bounds); None if there is none, it cannot be opened,
    or it is not an object."""
    if envelope is None:
        return None
    try:
        data = bounded_json.loads(open_envelope(keys, purpose, envelope, context=ctx))
    except (OpenError, bounded_json.BoundedJSONError):
        return None
    return data if isinstance(data, dict) else None


class Opened(NamedTuple):
    """A case's report as opened for a caseworker: the typed report, or why there is none."""

    report: Report | None
    problem: str | None  # None when the report is there, else a plain reason for the page


NO_KEY = "it cannot be opened with your keys: ask an admin to grant you the intake key it was sealed to"


def parse_report(keys: Keys, envelope: bytes | None) -> Opened:
    """Open and validate a sealed report: a hostile one is a reason, never an exception."""
    if envelope is None:
        return Opened(None, "the case has no report")
    try:
        plain = open_envelope(keys, Purpose.REPORT, envelope)
    except OpenError:
        return Opened(None, NO_KEY)
    try:
        return Opened(report_schema.parse(plain), None)
    except report_schema.Unreadable as exc:
        return Opened(None, f"the reporter's client sent something the desk cannot read: {exc}")


def open_report(keys: Keys, session: Session, case: Case) -> Opened:
    """The case's report (its first submission), validated."""
    envelope = session.scalar(select(Submission.envelope).where(Submission.case_id == case.id).order_by(Submission.id))
    return parse_report(keys, envelope)


class File(NamedTuple):
    """An attachment with its opened manifest, or the reason it has none."""

    row: Attachment
    manifest: Manifest | None
    problem: str | None


def attachments(keys: Keys, session: Session, case: Case) -> list[File]:
    """The case's files in the order received, each with its sealed manifest opened and checked.
    Never the files themselves."""
    found: list[File] = []
    rows = session.scalars(
        select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.created_on, Attachment.id)
    )
    for attachment in rows:
        try:
            plain = open_envelope(keys, Purpose.ATTACHMENT_MANIFEST, attachment.manifest)
        except OpenError:
            found.append(File(attachment, None, NOT_YOUR_KEY))
            continue
        try:
            found.append(File(attachment, Manifest.from_json(plain), None))
        except OpenError as exc:
            found.append(File(attachment, None, f"its description is unreadable ({exc})"))
    return found


# Bidirectional controls reorder what follows them: "x\u202egpj.exe" shows as "xexe.jpg".
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown_name(name: str) -> str:
    """A reporter's file name as a caseworker may see it: every bidirectional or control
    character replaced by a visible U+FFFD, so the extension on screen is the real one."""
    return "".join("\ufffd" if ch in _BIDI or unicodedata.category(ch) == "Cc" else ch for ch in name)


def usernames(session: Session) -> Names:
    return {worker_id: name for worker_id, name in session.execute(select(Caseworker.id, Caseworker.username))}
