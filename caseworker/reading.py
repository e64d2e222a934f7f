"""Reading a case: decrypting its parts and labelling them for a person.

Shared by the case page (``casework``) and the exports (``reporting``). Whatever is opened here
is reporter or caseworker text: callers only ever print it escaped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import bounded_json, report_schema
from cases.languages import catalogue as catalogue
from cases.models import Attachment, Case, Caseworker, Submission
from cases.questionnaire import DANGER, QUESTIONS, SECTIONS, Question
from cases.report_schema import Report
from crypto.envelope import Purpose, open_envelope
from crypto.errors import OpenError
from crypto.keys import PrivateKey
from crypto.stream import Manifest

from . import triage

# What a case or attachment id can look like (base32 from cases.ids): anything else, a NUL byte
# included (PostgreSQL refuses it in a query), is simply not found.
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,24}")
CONSENT_FIELDS = ("consent_act", "consent_authorities", "consent_publish")
CHOICE_KINDS = ("one", "many")

Keys = dict[bytes, PrivateKey]  # intake private keys by key id
Names = dict[int, str]  # usernames by caseworker id
Translate = Callable[[str], str]
Labelled = list[tuple[str, list[tuple[Question, list[str]]]]]  # (section title, [(question, lines)])


class Consent(NamedTuple):
    """One consent as shown. A tuple so the printable page can unpack (label, said, given)."""

    label: str
    said: str  # the reporter's answer as labelled, or a placeholder when there is none
    given: bool


# --- labels --------------------------------------------------------------------------------


def answered(value: object) -> bool:
    return value not in (None, "", [], {})


def display(question: Question, value: object, tr: Translate, *, lines: bool = False) -> list[str]:
    """An answer as labels in the caseworker's language; values we do not know, as given.

    The case page (default) shows nothing for an unanswered question, keeps free text whole and
    writes other values with ``str``. The printable page (``lines``) splits every answer into
    lines, leaves blanks out and writes values that are not text as JSON.
    """
    if not lines and not answered(value):
        return []
    if not lines and question.kind not in CHOICE_KINDS:
        return [str(value)]
    labels = {c.value: c.label for c in question.choices}
    values = value if isinstance(value, list) else [value]
    other = json.dumps if lines else str
    return [
        (tr(labels[v]) if v in labels else v) if isinstance(v, str) else other(v)
        for v in values
        if not (lines and v in (None, ""))
    ]


def answer_sections(
    answers: Mapping[str, Any], tr: Translate, *, lines: bool = False, leave_out: Iterable[str] = ()
) -> Labelled:
    """Every answered question of the form, in its order, section by section (titles translated).

    The danger question stands before the first section, untitled. Keys the form does not know
    are left out, as docs/protocol.md asks of readers.
    """
    skip = frozenset(leave_out)
    sections = []
    for title, questions in (("", (DANGER,)), *((s.title, s.questions) for s in SECTIONS)):
        rows = [
            (q, shown)
            for q in questions
            if q.name not in skip and (shown := display(q, answers.get(q.name), tr, lines=lines))
        ]
        if rows:
            sections.append((tr(title) if title else "", rows))
    return sections


def consent_rows(answers: Mapping[str, Any], tr: Translate, *, lines: bool = False) -> list[Consent]:
    """The three consents as the reporter answered them; a missing answer is consent not given.

    Every page decides "given" exactly as the referral checks do (``triage.consent``), so a
    printed case can never show a consent that the desk itself would refuse to act on.
    """
    allowed = triage.consent(answers)
    given = (allowed["act"], allowed["authorities"], allowed["publish"] != "no")
    rows = []
    for name, ok in zip(CONSENT_FIELDS, given, strict=True):
        question = QUESTIONS[name]
        value = answers.get(name)
        if lines:
            shown = display(question, value, tr, lines=True) if isinstance(value, str) else []
            rows.append(Consent(tr(question.label), shown[0] if shown else "no answer", ok))
        else:
            shown = display(question, value, tr)
            rows.append(Consent(tr(question.label), ", ".join(shown) if shown else "not answered", ok))
    return rows


# --- opening sealed parts ------------------------------------------------------------------


def open_text(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes = b"") -> str | None:
    """The plaintext, "" if there is nothing sealed, None if it cannot be opened with these keys.

    Bytes that are not UTF-8 (a hostile client's) are shown as U+FFFD rather than hiding the rest.
    """
    if envelope is None:
        return ""
    try:
        return open_envelope(keys, purpose, envelope, context=ctx).decode("utf-8", errors="replace")
    except OpenError:
        return None


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
            found.append(File(attachment, None, "sealed to a key you do not hold"))
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
