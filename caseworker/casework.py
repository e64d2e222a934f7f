"""One case: read it, download its files, triage, assign, refer, answer, note.

Everything a reporter wrote is hostile: the templates only ever print it escaped, and files are
only ever handed out as opaque downloads. Everything a caseworker writes here (triage, referrals,
notes, replies) is sealed before it reaches the database. Each action leaves an audit event whose
detail names what happened, never what anyone wrote.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from babel import Locale, UnknownLocaleError
from flask import Blueprint, Response, g, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from cases import audit, conversation
from cases.blobs import BlobStore, chunk_key
from cases.clock import today
from cases.intake_keys import current
from cases.models import (
    Attachment,
    Case,
    Caseworker,
    Direction,
    Message,
    Note,
    Status,
    StatusChange,
)
from cases.questionnaire import QUESTIONS, STAGES
from cases.reports import Rejected
from crypto.envelope import Purpose, seal
from crypto.errors import OpenError
from crypto.stream import Manifest, decrypt_chunks, open_manifest

from . import forms, reading, triage
from . import session as staff_session
from .context import desk
from .reading import Consent, Keys, Names, catalogue

bp = Blueprint("casework", __name__)

# A download must never become a page: no script, no plugin, no same-origin access.
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
MAX_REPLY = forms.MAX_REPLY
MAX_NOTE = forms.MAX_NOTE
STAFF_ROLES = frozenset(staff_session.STAFF)
FREE_TEXT = ("text", "textarea")


# --- small helpers -------------------------------------------------------------------------


def _keys() -> Keys:
    return g.keyring.private_keys()


def _case(session: Session, case_id: str, lock: bool = False) -> Case:
    case = session.get(Case, case_id, with_for_update=lock) if reading.ID_SHAPE.fullmatch(case_id) else None
    if case is None:
        raise NotFound()
    return case


def _audit(session: Session, action: str, case: Case, detail: str = "") -> None:
    audit.record(session, action, actor_id=g.user.id, case_id=case.id, detail=detail)


def _back(case: Case, anchor: str) -> Response:
    return redirect(url_for("casework.view", case_id=case.id, _anchor=anchor), 303)


def _refuse(case_id: str, message: str, code: int = 409) -> tuple[str, int]:
    """A clear refusal; nothing was stored. ``message`` is our own text, never reporter text."""
    return render_template("case_refused.html", case_id=case_id, message=message, code=code), code


def _not_saved(case_id: str, form: forms.DeskForm) -> tuple[str, int]:
    return _refuse(case_id, f"Nothing was saved: {form.problem()}.", 400)


def _language_name(code: object) -> str:
    """The reporter's language, named in English; the raw code if it is not one."""
    text = str(code or "")[:16]
    try:
        return f"{Locale.parse(text.replace('-', '_')).get_display_name('en')} ({text})"
    except (ValueError, TypeError, LookupError, UnknownLocaleError):
        return text or "not stated"


# --- reading a case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    name: str
    label: str
    values: list[str]
    free_text: bool  # the reporter's own words (shown in a pre-wrapped block)


@dataclass(frozen=True)
class Group:
    title: str
    answers: list[Answer]


@dataclass(frozen=True)
class FileRow:
    id: str
    name: str | None  # None: the manifest cannot be opened (``problem`` says why)
    size: int | None
    complete: bool
    received_on: dt.date
    problem: str | None = None


FilesByMessage = dict[int | None, list[FileRow]]  # None: files sent with the report


@dataclass(frozen=True)
class Sealed:
    """A sealed text as opened for display: text, or None with ``readable`` False."""

    text: str | None
    readable: bool = True


@dataclass(frozen=True)
class ThreadItem:
    direction: Direction
    on: dt.date
    body: Sealed
    author: str | None
    files: list[FileRow]


@dataclass(frozen=True)
class Step:
    status: str
    label: str
    on: dt.date
    explanation: Sealed
    author: str | None


@dataclass(frozen=True)
class NoteItem:
    on: dt.date
    author: str | None
    body: Sealed


@dataclass
class CaseView:
    case: Case
    report_readable: bool
    report_problem: str | None  # why the report is not shown, in plain words
    language: str
    groups: list[Group]
    consents: list[Consent]
    consent: dict[str, Any]
    report_files: list[FileRow]
    thread: list[ThreadItem]
    timeline: list[Step]
    notes: list[NoteItem]
    triage: dict[str, Any] | None  # None: stored but not openable with these keys
    triage_suggested: bool  # no triage yet: the form shows the reporter's own answers
    assignee: str | None
    staff: list[Caseworker]
    channel_open: bool
    opened: dict[str, int] = field(default_factory=dict)


def _open_text(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes) -> Sealed:
    # The page tells "nothing was written" (text None) apart from "sealed to a key you lack".
    if envelope is None:
        return Sealed(None)
    text = reading.open_text(keys, purpose, envelope, ctx)
    return Sealed(text, readable=text is not None)


def answer_groups(answers: Mapping[str, Any], tr: reading.Translate) -> list[Group]:
    """Every answered question, labelled, in the form's order (danger first)."""
    return [
        Group(title, [Answer(q.name, tr(q.label), shown, q.kind in FREE_TEXT) for q, shown in rows])
        for title, rows in reading.answer_sections(answers, tr)
    ]


def _file_rows(keys: Keys, session: Session, case: Case) -> FilesByMessage:
    """Attachments by message id (None: sent with the report), names from sealed manifests."""
    rows: FilesByMessage = {}
    for attachment, manifest, problem in reading.attachments(keys, session, case):
        rows.setdefault(attachment.message_id, []).append(
            FileRow(
                attachment.id,
                reading.shown_name(manifest.name) if manifest else None,
                manifest.size if manifest else None,
                attachment.complete,
                attachment.created_on,
                problem,
            )
        )
    return rows


def _thread(keys: Keys, session: Session, case: Case, files: FilesByMessage, names: Names) -> list[ThreadItem]:
    items = []
    for m in session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id)):
        purpose = Purpose.MESSAGE if m.direction is Direction.FROM_REPORTER else Purpose.REPLY
        body = _open_text(keys, purpose, m.team_envelope, conversation.context(case))
        items.append(ThreadItem(m.direction, m.sent_on, body, names.get(m.author_id), files.get(m.id, [])))
        # Shown to a caseworker now: the inbox stops flagging it as unread.
        if m.direction is Direction.FROM_REPORTER and m.read_on is None:
            m.read_on = today()
    return items


def _timeline(keys: Keys, session: Session, case: Case, names: Names) -> list[Step]:
    changes = session.scalars(select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.id))
    return [
        Step(
            c.status.value,
            STAGES[c.status.value][0],
            c.changed_on,
            _open_text(keys, Purpose.REPLY, c.team_envelope, conversation.context(case, "status")),
            names.get(c.author_id),
        )
        for c in changes
    ]


def _notes(keys: Keys, session: Session, case: Case, names: Names) -> list[NoteItem]:
    notes = session.scalars(select(Note).where(Note.case_id == case.id).order_by(Note.id))
    return [
        NoteItem(n.created_on, names.get(n.author_id), _open_text(keys, Purpose.NOTE, n.envelope, _note_context(case)))
        for n in notes
    ]


def _note_context(case: Case) -> bytes:
    return conversation.context(case, "note")


def _triage_or_none(keys: Keys, case: Case) -> dict[str, Any] | None:
    try:
        return triage.load(keys, case)
    except OpenError:
        return None


def _suggested_triage(answers: Mapping[str, Any]) -> dict[str, Any]:
    """What the reporter said, as a starting point for a first triage (nothing is stored)."""
    raw: dict[str, Any] = {
        name: answers.get(name) if isinstance(answers.get(name), list) else [] for name in triage.CHOICE_FIELDS
    }
    country = answers.get("country")
    raw["country"] = country[: triage.MAX_COUNTRY] if isinstance(country, str) else ""
    return triage.normalise(raw, strict=False)


def staff_choices(session: Session) -> list[Caseworker]:
    """Who a case may be assigned to: enabled admins and caseworkers (analysts never)."""
    return list(
        session.scalars(
            select(Caseworker)
            .where(Caseworker.disabled.is_(False), Caseworker.role.in_(list(STAFF_ROLES)))
            .order_by(Caseworker.username)
        )
    )


def build_view(session: Session, case: Case, keys: Keys, language: str) -> CaseView:
    tr = catalogue(language).gettext
    report, problem = reading.open_report(keys, session, case)
    answers = report.answers if report else {}
    files = _file_rows(keys, session, case)
    names = reading.usernames(session)
    stored = _triage_or_none(keys, case)
    suggested = case.triage_envelope is None
    view = CaseView(
        case=case,
        report_readable=report is not None,
        report_problem=problem,
        language=_language_name(report.lang) if report else "",
        groups=answer_groups(answers, tr),
        consents=reading.consent_rows(answers, tr),
        consent=triage.consent(answers),
        report_files=files.get(None, []),
        thread=_thread(keys, session, case, files, names),
        timeline=_timeline(keys, session, case, names),
        notes=_notes(keys, session, case, names),
        triage=_suggested_triage(answers) if suggested else stored,
        triage_suggested=suggested,
        assignee=names.get(case.assigned_to) if case.assigned_to else None,
        staff=staff_choices(session),
        channel_open=case.reporter_public_key is not None,
    )
    view.opened = {
        "report": int(report is not None),
        "messages": sum(t.body.readable and t.body.text is not None for t in view.thread),
        "notes": sum(n.body.readable for n in view.notes),
        "files": sum(r.name is not None for rows in files.values() for r in rows),
    }
    return view


@bp.get("/cases/<case_id>")
@staff_session.require(*staff_session.STAFF)
def view(case_id: str):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        case = _case(session, case_id)
        page = build_view(session, case, _keys(), g.user.language)
        _audit(session, "case.view", case)
        _audit(session, "case.decrypt", case, ",".join(f"{k}={v}" for k, v in page.opened.items()))
        return render_template(
            "case.html",
            v=page,
            tr=catalogue(g.user.language).gettext,
            questions=QUESTIONS,
            choices=triage.choices,
            verification=triage.VERIFICATION,
            statuses=[(s.value, STAGES[s.value][0]) for s in Status],
            stage=STAGES[case.status.value][0],
            today=today().isoformat(),
        )


# --- attachments ---------------------------------------------------------------------------


def ascii_filename(name: str) -> str:
    """A file name any browser and file system accepts: ASCII letters, digits, . _ - only."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9._-]", "", re.sub(r"\s+", "_", folded)).lstrip(".-_")[:120]
    return safe or "attachment"


def content_disposition(name: str) -> str:
    """Always ``attachment``; the original name only percent-encoded (RFC 5987/6266)."""
    original = quote(name[:255].encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{original}"


def _chunks(blobs: BlobStore, attachment_id: str, count: int) -> Iterator[bytes]:
    return (blobs.get(chunk_key(attachment_id, i)) for i in range(count))


def _verify(blobs: BlobStore, attachment_id: str, manifest: Manifest) -> None:
    """Authenticate every chunk before the first byte leaves: a damaged or truncated file is
    refused, not half-delivered. The stream then authenticates each chunk again as it goes."""
    size = sum(
        len(p) for p in decrypt_chunks(manifest.key, manifest.chunks, _chunks(blobs, attachment_id, manifest.chunks))
    )
    if size != manifest.size:
        raise OpenError("file size does not match its manifest")


@bp.get("/cases/<case_id>/files/<attachment_id>")
@staff_session.require(*staff_session.STAFF)
def download(case_id: str, attachment_id: str):  # type: ignore[no-untyped-def]
    blobs = desk().blobs
    with desk().db.session() as session:
        case = _case(session, case_id)
        attachment = session.get(Attachment, attachment_id) if reading.ID_SHAPE.fullmatch(attachment_id) else None
        if attachment is None or attachment.case_id != case.id:
            raise NotFound()
        if not attachment.complete:
            _audit(session, "file.refused", case, f"attachment={attachment.id} reason=incomplete")
            return _refuse(
                case.id,
                "This file never finished uploading, so it cannot be opened. Ask the reporter to send it again.",
            )
        try:
            manifest = open_manifest(_keys(), attachment.manifest)
            _verify(blobs, attachment.id, manifest)
        except (OpenError, KeyError):
            _audit(session, "file.refused", case, f"attachment={attachment.id} reason=unreadable")
            return _refuse(
                case.id, "This file cannot be opened: it is damaged, incomplete, or sealed to a key you do not hold."
            )
        _audit(session, "file.download", case, f"attachment={attachment.id}")
        attachment_key = attachment.id
    body = decrypt_chunks(manifest.key, manifest.chunks, _chunks(blobs, attachment_key, manifest.chunks))
    response = Response(body, mimetype="application/octet-stream", direct_passthrough=True)
    # Whatever the manifest claims (HTML, SVG, PDF...), the browser gets opaque bytes to save.
    response.headers["Content-Disposition"] = content_disposition(reading.shown_name(manifest.name))
    response.headers["Content-Length"] = str(manifest.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


# --- triage and referrals ------------------------------------------------------------------


def _rebuild_index(session: Session, case: Case) -> None:
    """Refresh the case's encrypted inbox entry after its triage changed."""
    try:
        from . import index
    except ImportError:  # the inbox index is built separately; nothing to refresh without it
        return
    index.rebuild(session, g.keyring, case)


def _load_triage(case: Case) -> dict[str, Any] | None:
    """The stored triage for a read-modify-write, or None if it cannot be opened (then nothing
    may be written: re-sealing would silently drop the referrals we could not read)."""
    return _triage_or_none(_keys(), case)


@bp.post("/cases/<case_id>/triage")
@staff_session.require(*staff_session.STAFF)
def update_triage(case_id: str):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        case = _case(session, case_id, lock=True)
        old = _load_triage(case)
        if old is None:
            return _refuse(case.id, "The stored triage is sealed to a key you do not hold; ask an admin to grant it.")
        form = forms.TriageForm()
        if not form.validate():
            return _not_saved(case.id, form)
        try:
            new = triage.normalise({**form.data, "referrals": old["referrals"]})
        except triage.Invalid as exc:
            return _refuse(case.id, f"Nothing was saved: {exc}.", 400)
        urgent = bool(form.urgent.data)
        fields = triage.changed(old, new) + (["urgent"] if urgent != case.urgent else [])
        if case.triage_envelope is None and not fields:
            fields = ["created"]  # a first triage that confirms the defaults is still a decision
        case.urgent = urgent
        triage.store(session, case, new)
        _rebuild_index(session, case)
        _audit(session, "triage.update", case, "fields=" + ",".join(fields or ["none"]))
    return _back(case, "triage")


def _report_consent(session: Session, case: Case) -> dict[str, Any] | None:
    report = reading.open_report(_keys(), session, case).report
    return triage.consent(report.answers) if report is not None else None


@bp.post("/cases/<case_id>/referrals")
@staff_session.require(*staff_session.STAFF)
def add_referral(case_id: str):  # type: ignore[no-untyped-def]
    form = forms.ReferralForm()
    if not form.validate():
        return _not_saved(case_id, form)
    authorities = bool(form.authorities.data)
    with desk().db.session() as session:
        case = _case(session, case_id, lock=True)
        consent = _report_consent(session, case)
        refusal = _referral_refusal(consent, authorities)
        if refusal:
            _audit(
                session,
                "referral.refused",
                case,
                "reason=" + ("authorities" if consent and consent["act"] else "consent"),
            )
            return _refuse(case.id, refusal)
        old = _load_triage(case)
        if old is None:
            return _refuse(case.id, "The stored triage is sealed to a key you do not hold; ask an admin to grant it.")
        try:
            entry = triage.referral(form.to.data, form.on.data or today().isoformat(), form.outcome.data, authorities)
        except triage.Invalid as exc:
            return _refuse(case.id, f"Nothing was saved: {exc}.", 400)
        if len(old["referrals"]) >= triage.MAX_REFERRALS:
            return _refuse(case.id, "This case has too many referrals to add another.", 400)
        triage.store(session, case, {**old, "referrals": [*old["referrals"], entry]})
        _rebuild_index(session, case)
        _audit(session, "referral.add", case, f"referral={len(old['referrals'])} authorities={int(authorities)}")
    return _back(case, "referrals")


def _referral_refusal(consent: dict[str, Any] | None, authorities: bool) -> str | None:
    """Why a referral may not be made, or None. Consent is the reporter's, never ours to assume."""
    if consent is None:
        return (
            "The report cannot be read (the case page says why), so its consent cannot be checked. Nothing was saved."
        )
    if not consent["act"]:
        return "The reporter did NOT consent to action on this report: no referral may be made. Nothing was saved."
    if authorities and not consent["authorities"]:
        return (
            "The reporter did NOT consent to raising this with the authorities of the country concerned. "
            "Nothing was saved."
        )
    return None


@bp.post("/cases/<case_id>/referrals/<int:number>")
@staff_session.require(*staff_session.STAFF)
def update_referral(case_id: str, number: int):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        case = _case(session, case_id, lock=True)
        old = _load_triage(case)
        if old is None:
            return _refuse(case.id, "The stored triage is sealed to a key you do not hold; ask an admin to grant it.")
        if not 0 <= number < len(old["referrals"]):
            raise NotFound()
        form = forms.OutcomeForm()
        if not form.validate():
            return _not_saved(case.id, form)
        outcome = form.outcome.data
        referrals = [dict(r) for r in old["referrals"]]
        referrals[number]["outcome"] = outcome
        triage.store(session, case, {**old, "referrals": referrals})
        _rebuild_index(session, case)
        _audit(session, "referral.update", case, f"referral={number} fields=outcome")
    return _back(case, "referrals")


# --- assignment, status, replies, notes ----------------------------------------------------


@bp.post("/cases/<case_id>/assign")
@staff_session.require(*staff_session.STAFF)
def assign(case_id: str):  # type: ignore[no-untyped-def]
    form = forms.AssignForm()
    with desk().db.session() as session:
        # Locked, so the stored assignee is the one the last audited request chose.
        case = _case(session, case_id, lock=True)
        if not form.validate():
            return _refuse(case.id, "Cases can only be assigned to an enabled caseworker or admin.", 400)
        chosen = form.to.data
        if chosen is not None:
            worker = session.get(Caseworker, chosen)
            if worker is None or worker.disabled or worker.role not in STAFF_ROLES:
                return _refuse(case.id, "Cases can only be assigned to an enabled caseworker or admin.", 400)
            case.assigned_to = worker.id
        else:
            case.assigned_to = None
        _audit(session, "case.assign", case, f"to={case.assigned_to or 'nobody'}")
    return _back(case, "assignment")


@bp.post("/cases/<case_id>/status")
@staff_session.require(*staff_session.STAFF)
def change_status(case_id: str):  # type: ignore[no-untyped-def]
    form = forms.StatusForm()
    if not form.validate():
        if form.status.errors:
            return _refuse(case_id, "Choose one of the listed stages.", 400)
        return _refuse(case_id, f"Nothing was sent: the explanation is longer than {MAX_REPLY} characters.", 400)
    status, explanation = Status(form.status.data), form.explanation.data
    with desk().db.session() as session:
        # Locked, so the case's status is always its timeline's last step.
        case = _case(session, case_id, lock=True)
        if explanation and case.reporter_public_key is None:
            return _refuse(
                case.id,
                "The reporter deleted their reply channel: no explanation can reach them. Change the stage "
                "without one, or write an internal note.",
            )
        conversation.change_status(session, case, status, explanation, g.user.id)
        _audit(session, "status.change", case, f"status={status.value} explained={int(bool(explanation))}")
    return _back(case, "timeline")


@bp.post("/cases/<case_id>/reply")
@staff_session.require(*staff_session.STAFF)
def reply(case_id: str):  # type: ignore[no-untyped-def]
    form = forms.ReplyForm()
    if not form.validate():
        return _refuse(case_id, f"Nothing was sent: write a reply of 1 to {MAX_REPLY} characters.", 400)
    text = form.text.data
    with desk().db.session() as session:
        # Locked like the reporter's channel deletion locks it: a reply racing the deletion is
        # either erased by it or finds no key, never left sealed to a key the reporter deleted.
        case = _case(session, case_id, lock=True)
        try:
            conversation.reply(session, case, text, g.user.id)
        except Rejected:
            return _refuse(case.id, "The reporter deleted their reply channel: a reply can no longer reach them.")
        _audit(session, "reply.send", case)
    return _back(case, "thread")


@bp.post("/cases/<case_id>/notes")
@staff_session.require(*staff_session.STAFF)
def add_note(case_id: str):  # type: ignore[no-untyped-def]
    form = forms.NoteForm()
    if not form.validate():
        return _refuse(case_id, f"Nothing was saved: write a note of 1 to {MAX_NOTE} characters.", 400)
    text = form.text.data
    with desk().db.session() as session:
        case = _case(session, case_id)
        envelope = seal(current(session).public_key, Purpose.NOTE, text.encode("utf-8"), context=_note_context(case))
        session.add(Note(case_id=case.id, author_id=g.user.id, created_on=today(), envelope=envelope))
        _audit(session, "note.add", case)
    return _back(case, "notes")
