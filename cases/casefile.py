"""A case as a caseworker reads it: every sealed part opened once, into one typed value.

``load`` is the one traversal of a case: the case page, the printable page and the JSON export
are all drawn from the ``CaseFile`` it returns, so none of them can open, label or judge a part
differently from the others. A part that cannot be opened is kept with its reason, never raised:
a hostile report or a key this caseworker lacks makes a bounded page, not an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from babel import Locale, UnknownLocaleError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto.envelope import Purpose
from crypto.errors import OpenError

from . import audit, details, errors, reading
from .clock import today
from .consent import Consent
from .conversation import context
from .models import Case, Direction, Message, Note, ReportDetails, Status, StatusChange
from .notes import note_context
from .questionnaire import STAGES
from .reading import ConsentRow, Keys, Names, Sealed
from .report_schema import Report
from .triage import Triage
from .triage import load as load_triage

FREE_TEXT = ("text", "textarea")


class CaseNotFound(errors.NotFound):
    def __init__(self) -> None:
        super().__init__("no such case")


@dataclass(frozen=True)
class Answer:
    name: str
    label: str
    values: list[str]
    free_text: bool  # the reporter's own words (shown in a pre-wrapped block)
    added_on: dt.date | None = None  # given later, in details added on this day (None: in the report)


@dataclass(frozen=True)
class Group:
    title: str
    answers: list[Answer]


@dataclass(frozen=True)
class FileRow:
    id: str
    message_id: int | None  # None: sent with the report
    name: str | None  # None: the manifest cannot be opened (``problem`` says why)
    type: str | None
    size: int | None
    complete: bool
    received_on: dt.date
    problem: str | None = None


@dataclass(frozen=True)
class ThreadItem:
    id: int
    direction: Direction
    on: dt.date
    body: Sealed
    author: str | None
    files: list[FileRow]


@dataclass(frozen=True)
class Step:
    id: int
    status: Status
    label: str
    on: dt.date
    explanation: Sealed
    author: str | None


@dataclass(frozen=True)
class NoteItem:
    id: int
    on: dt.date
    author: str | None
    body: Sealed


@dataclass(frozen=True)
class CaseFile:
    case: Case
    report: Report | None  # the report's answers with every details submission merged in
    report_problem: str | None  # why the report is not shown, in plain words
    language: str  # the reporter's language, named in English; "" when unknown
    groups: list[Group]
    consent: Consent
    consents: list[ConsentRow]
    triage: Triage | None  # None: stored, but not openable with these keys
    thread: list[ThreadItem]
    timeline: list[Step]
    notes: list[NoteItem]
    files: list[FileRow]
    assignee: str | None
    added: list[details.Added] = field(default_factory=list)  # details submissions, in order
    added_on: dict[str, dt.date] = field(default_factory=dict)  # question -> day a later answer came

    @property
    def report_readable(self) -> bool:
        return self.report is not None

    @property
    def channel_open(self) -> bool:
        return self.case.reporter_public_key is not None

    @property
    def triage_suggested(self) -> bool:
        """No triage yet: the form starts from the reporter's own answers."""
        return self.case.triage_envelope is None

    @property
    def stored_triage(self) -> Triage | None:
        """The triage caseworkers wrote; None if there is none yet or it cannot be opened."""
        return None if self.triage_suggested else self.triage

    @property
    def report_files(self) -> list[FileRow]:
        return [f for f in self.files if f.message_id is None]

    def opened(self) -> dict[str, int]:
        """How many parts were decrypted: what the audit trail may say about a reading."""
        return {
            "report": int(self.report is not None),
            "details": sum(d.problem is None for d in self.added),
            "messages": sum(t.body.readable and t.body.text is not None for t in self.thread),
            "notes": sum(n.body.readable for n in self.notes),
            "files": sum(f.name is not None for f in self.files),
        }

    def unreadable(self) -> list[str]:
        """Every part that did not open, named (never quoted) with its reason where there is one."""
        missing = [f"report: {self.report_problem}"] if self.report is None else []
        missing += ["triage"] if self.triage is None else []
        missing += [f"details {d.id}: {d.problem}" for d in self.added if d.problem is not None]
        missing += [f"status change {s.id}" for s in self.timeline if not s.explanation.readable]
        missing += [f"message {m.id}" for m in self.thread if not m.body.readable]
        missing += [f"note {n.id}" for n in self.notes if not n.body.readable]
        return missing + [f"attachment {f.id}: {f.problem}" for f in self.files if f.name is None]


def get(session: Session, case_id: str, *, lock: bool = False) -> Case:
    """The case, locked for update if asked; ``CaseNotFound`` for anything that is not one."""
    case = session.get(Case, case_id, with_for_update=lock) if reading.ID_SHAPE.fullmatch(case_id) else None
    if case is None:
        raise CaseNotFound()
    return case


def language_name(code: str) -> str:
    """A language code named in English; the raw code if it is not one."""
    text = code[:16]
    try:
        return f"{Locale.parse(text.replace('-', '_')).get_display_name('en')} ({text})"
    except (ValueError, TypeError, LookupError, UnknownLocaleError):
        return text or "not stated"


def _groups(merged: details.Merged, tr: reading.Translate, lang: str) -> list[Group]:
    """Every answered question, labelled, in the form's order (danger first); a country named
    in the caseworker's language with its code; an answer given later marked with its day."""
    answers = merged.report.answers if merged.report else {}
    return [
        Group(
            title,
            [Answer(q.name, tr(q.label), shown, q.kind in FREE_TEXT, merged.added_on.get(q.name)) for q, shown in rows],
        )
        for title, rows in reading.answer_sections(answers, tr, lang=lang)
    ]


def _files(keys: Keys, session: Session, case: Case) -> list[FileRow]:
    return [
        FileRow(
            row.id,
            row.message_id,
            reading.shown_name(manifest.name) if manifest else None,
            reading.shown_name(manifest.type) if manifest else None,
            manifest.size if manifest else None,
            row.complete,
            row.created_on,
            problem,
        )
        for row, manifest, problem in reading.attachments(keys, session, case)
    ]


def _thread(keys: Keys, session: Session, case: Case, files: list[FileRow], names: Names) -> list[ThreadItem]:
    messages = session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    return [
        ThreadItem(
            m.id,
            m.direction,
            m.sent_on,
            reading.open_sealed(
                keys,
                Purpose.MESSAGE if m.direction is Direction.FROM_REPORTER else Purpose.REPLY,
                m.team_envelope,
                context(case),
            ),
            names.get(m.author_id) if m.author_id else None,
            [f for f in files if f.message_id == m.id],
        )
        for m in messages
    ]


def _timeline(keys: Keys, session: Session, case: Case, names: Names) -> list[Step]:
    changes = session.scalars(select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.id))
    return [
        Step(
            c.id,
            c.status,
            STAGES[c.status.value][0],
            c.changed_on,
            reading.open_sealed(keys, Purpose.REPLY, c.team_envelope, context(case, "status")),
            names.get(c.author_id) if c.author_id else None,
        )
        for c in changes
    ]


def _notes(keys: Keys, session: Session, case: Case, names: Names) -> list[NoteItem]:
    notes = session.scalars(select(Note).where(Note.case_id == case.id).order_by(Note.id))
    return [
        NoteItem(
            n.id,
            n.created_on,
            names.get(n.author_id) if n.author_id else None,
            reading.open_sealed(keys, Purpose.NOTE, n.envelope, note_context(case)),
        )
        for n in notes
    ]


def _triage(keys: Keys, case: Case) -> Triage | None:
    try:
        return load_triage(keys, case)
    except OpenError:
        return None


def load(session: Session, case: Case, keys: Keys, language: str) -> CaseFile:
    """Open everything of the case that these keys open, labelled in ``language``."""
    tr = reading.catalogue(language).gettext
    first, problem = reading.open_report(keys, session, case)
    merged = details.merged(keys, session, case, first)
    report = merged.report
    answers = report.answers if report else {}
    names = reading.usernames(session)
    files = _files(keys, session, case)
    return CaseFile(
        case=case,
        report=report,
        report_problem=problem,
        language=language_name(report.lang) if report else "",
        groups=_groups(merged, tr, language),
        consent=Consent.from_answers(answers),
        consents=reading.consent_rows(answers, tr),
        triage=_triage(keys, case),
        thread=_thread(keys, session, case, files, names),
        timeline=_timeline(keys, session, case, names),
        notes=_notes(keys, session, case, names),
        files=files,
        assignee=names.get(case.assigned_to) if case.assigned_to else None,
        added=merged.added,
        added_on=merged.added_on,
    )


def read(session: Session, case_id: str, keys: Keys, language: str, actor_id: int) -> CaseFile:
    """A caseworker reads the case: what they decrypted is audited (counts, never content) and
    the reporter's messages and added details stop counting as unread in the inbox."""
    case = get(session, case_id)
    casefile = load(session, case, keys, language)
    session.execute(
        update(Message)
        .where(Message.case_id == case.id, Message.direction == Direction.FROM_REPORTER, Message.read_on.is_(None))
        .values(read_on=today())
    )
    session.execute(
        update(ReportDetails)
        .where(ReportDetails.case_id == case.id, ReportDetails.read_on.is_(None))
        .values(read_on=today())
    )
    audit.record(session, "case.view", actor_id=actor_id, case_id=case.id)
    detail = ",".join(f"{k}={v}" for k, v in casefile.opened().items())
    audit.record(session, "case.decrypt", actor_id=actor_id, case_id=case.id, detail=detail)
    return casefile


def export(session: Session, case_id: str, keys: Keys, language: str, actor_id: int, form: str) -> CaseFile:
    """The case for a download or a printout (``form``: "json" or "print"), audited as one."""
    case = get(session, case_id)
    casefile = load(session, case, keys, language)
    audit.record(session, "case.export", actor_id=actor_id, case_id=case.id, detail=form)
    return casefile
