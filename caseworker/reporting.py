"""Caseworker desk: case exports (JSON download, printable page) and public statistics.

Exports decrypt a whole case with the viewer's keys, in memory, for staff only; the JSON leaves
as a download and the printable page is rendered escaped like every other page. Statistics are
computed by staff (who hold the intake keys) and stored suppressed so that analysts, who hold
none, can read them (see ``_save_aggregate``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from flask import Blueprint, Response, abort, current_app, g, render_template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import audit, statistics
from cases.clock import today
from cases.conversation import context
from cases.db import Database
from cases.keyring import Keyring
from cases.models import (
    Attachment,
    Case,
    Caseworker,
    Direction,
    Message,
    Note,
    Role,
    Setting,
    StatusChange,
    Submission,
)
from cases.questionnaire import DANGER, QUESTIONS, SECTIONS, STAGES, Question
from crypto.envelope import Purpose, open_envelope
from crypto.errors import CryptoError
from crypto.keys import PrivateKey
from crypto.stream import open_manifest

from . import session as staff_session

bp = Blueprint("reporting", __name__)

CATALOGUES = Path(__file__).resolve().parent.parent / "intake" / "translations"
CONSENTS = ("consent_act", "consent_authorities", "consent_publish")
STATS_KEY = "public_statistics"
_PART = 480  # characters per settings row: settings.value is VARCHAR(512)
_SAFE_ID = re.compile(r"[^a-z0-9]")
TABLES = {  # dimension: (heading, column)
    "country": ("By country", "Country"),
    "act_type": ("By kind of reprisal", "Kind of reprisal"),
    "un_link": ("By UN mechanism", "UN mechanism"),
    "month": ("By month received", "Month received"),
}
Keys = dict[bytes, PrivateKey]


def _db() -> Database:
    return current_app.extensions["rri.db"]


# -- opening a case ------------------------------------------------------------------------------


def _open_text(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes = b"") -> str | None:
    """The plaintext, "" if there is nothing sealed, None if it cannot be opened with these keys."""
    if envelope is None:
        return ""
    try:
        return open_envelope(keys, purpose, envelope, context=ctx).decode("utf-8")
    except (CryptoError, UnicodeDecodeError):
        return None


def _open_json(keys: Keys, purpose: Purpose, envelope: bytes | None, ctx: bytes = b"") -> dict[str, Any] | None:
    text = _open_text(keys, purpose, envelope, ctx)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def report_answers(report: dict[str, Any]) -> dict[str, Any]:
    answers = report.get("answers")
    return answers if isinstance(answers, dict) else report  # the demo's reports are flat


def _first_submissions(session: Session, case_ids: list[str] | None = None) -> dict[str, bytes]:
    query = select(Submission.case_id, Submission.envelope).order_by(Submission.id)
    if case_ids is not None:
        query = query.where(Submission.case_id.in_(case_ids))
    found: dict[str, bytes] = {}
    for case_id, envelope in session.execute(query):
        found.setdefault(case_id, envelope)
    return found


def _usernames(session: Session) -> dict[int, str]:
    return {row.id: row.username for row in session.execute(select(Caseworker.id, Caseworker.username))}


def _attachments(session: Session, keys: Keys, case: Case, unreadable: list[str]) -> list[dict[str, Any]]:
    """Names, types and sizes from the sealed manifests; never the files themselves."""
    files = []
    for row in session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.created_on)):
        try:
            manifest = open_manifest(keys, row.manifest)
            name, kind, size = manifest.name, manifest.type, manifest.size
        except CryptoError:
            unreadable.append(f"attachment {row.id}")
            name = kind = size = None
        files.append({"id": row.id, "message": row.message_id, "complete": row.complete} | _file(name, kind, size))
    return files


def _file(name: str | None, kind: str | None, size: int | None) -> dict[str, Any]:
    return {"name": name, "type": kind, "size": size}


def case_document(session: Session, keys: Keys, case: Case) -> dict[str, Any]:
    """The whole case, decrypted: what the JSON export holds and the printable page shows.

    A text that cannot be opened with these keys is null and named in ``unreadable``.
    """
    names = _usernames(session)
    unreadable: list[str] = []
    report = _open_json(keys, Purpose.REPORT, _first_submissions(session, [case.id]).get(case.id))
    if report is None:
        unreadable.append("report")
    triage = _open_json(keys, Purpose.TRIAGE, case.triage_envelope, context(case, "triage"))
    if case.triage_envelope is not None and triage is None:
        unreadable.append("triage")

    def opened(label: str, purpose: Purpose, envelope: bytes | None, ctx: bytes) -> str | None:
        text = _open_text(keys, purpose, envelope, ctx)
        if text is None:
            unreadable.append(label)
        return text

    timeline = [
        {
            "status": step.status.value,
            "on": step.changed_on.isoformat(),
            "by": names.get(step.author_id) if step.author_id else None,
            "explanation": opened(
                f"status change {step.id}", Purpose.REPLY, step.team_envelope, context(case, "status")
            ),
        }
        for step in session.scalars(
            select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.id)
        )
    ]
    thread = [
        {
            "id": m.id,
            "direction": m.direction.value,
            "on": m.sent_on.isoformat(),
            "by": names.get(m.author_id) if m.author_id else None,
            "text": opened(
                f"message {m.id}",
                Purpose.REPLY if m.direction is Direction.TO_REPORTER else Purpose.MESSAGE,
                m.team_envelope,
                context(case),
            ),
        }
        for m in session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    ]
    notes = [
        {
            "on": n.created_on.isoformat(),
            "by": names.get(n.author_id) if n.author_id else None,
            "text": opened(f"note {n.id}", Purpose.NOTE, n.envelope, context(case, "note")),
        }
        for n in session.scalars(select(Note).where(Note.case_id == case.id).order_by(Note.id))
    ]
    return {
        "format": "rri-case-export/1",
        "exported_on": today().isoformat(),
        "case": {
            "id": case.id,
            "status": case.status.value,
            "urgent": case.urgent,
            "received_on": case.received_on.isoformat(),
            "updated_on": case.updated_on.isoformat(),
            "acknowledged_on": case.acknowledged_on.isoformat() if case.acknowledged_on else None,
            "closed_on": case.closed_on.isoformat() if case.closed_on else None,
            "assigned_to": names.get(case.assigned_to) if case.assigned_to else None,
            "sealed_in": case.sealed_in.value,
            "reply_channel_open": case.reporter_public_key is not None,
        },
        "report": {"lang": report.get("lang"), "answers": report_answers(report)} if report else None,
        "triage": triage,
        "timeline": timeline,
        "thread": thread,
        "notes": notes,
        "attachments": _attachments(session, keys, case, unreadable),
        "unreadable": unreadable,
    }


def _staff_case(case_id: str) -> tuple[Case, dict[str, Any]]:
    """Load and decrypt a case for the logged-in staff member; 404 if there is no such case."""
    with _db().session() as session:
        case = session.get(Case, case_id)
        if case is None:
            abort(404)
        return case, case_document(session, g.keyring.private_keys(), case)


def _record(action: str, case_id: str | None, detail: str) -> None:
    with _db().session() as session:
        audit.record(session, action, actor_id=g.user.id, case_id=case_id, detail=detail)


@bp.get("/cases/<case_id>/export.json")
@staff_session.require(*staff_session.STAFF)
def case_json(case_id: str) -> Response:
    case, document = _staff_case(case_id)
    _record("case.export", case.id, "json")
    response = Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    return _download(response, f"case-{_SAFE_ID.sub('', case.id)}.json")


def _download(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- the printable page --------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def catalogue(language: str) -> NullTranslations:
    """The reporter form's own catalogue for the caseworker's language (English if none)."""
    if language == "en" or not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{2,4})?", language):
        return NullTranslations()
    return Translations.load(dirname=str(CATALOGUES), locales=[language])


def _shown(question: Question, value: object, tr: Callable[[str], str]) -> list[str]:
    """An answer as text lines: choice labels for choices, the words themselves for text."""
    labels = {c.value: tr(c.label) for c in question.choices}
    values = value if isinstance(value, list) else [value]
    return [labels.get(v, v) if isinstance(v, str) else json.dumps(v) for v in values if v not in (None, "")]


def answer_sections(answers: dict[str, Any], tr: Callable[[str], str]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Every answered question of the form, labelled, section by section (consents apart).

    The danger question stands before the first section, untitled. Keys the form does not know
    are left out, as docs/protocol.md asks of readers; the JSON export keeps them.
    """
    sections = []
    for title, questions in (("", (DANGER,)), *((s.title, s.questions) for s in SECTIONS)):
        rows = [
            (tr(q.label), shown)
            for q in questions
            if q.name not in CONSENTS and (shown := _shown(q, answers.get(q.name), tr))
        ]
        if rows:
            sections.append((tr(title) if title else "", rows))
    return sections


def consent_rows(answers: dict[str, Any], tr: Callable[[str], str]) -> list[tuple[str, str, bool]]:
    """(question, answer, given) for the three consents; a missing answer is consent not given."""
    rows = []
    for name in CONSENTS:
        question = QUESTIONS[name]
        value = answers.get(name)
        given = value in ("yes", "named", "anonymised")
        shown = _shown(question, value, tr) if isinstance(value, str) and value else []
        rows.append((tr(question.label), shown[0] if shown else "no answer", given))
    return rows


def triage_rows(triage: dict[str, Any] | None, tr: Callable[[str], str]) -> list[tuple[str, list[str]]]:
    """The caseworkers' triage, labelled like the form (referrals are listed apart)."""
    if not triage:
        return []
    rows = [("Verification", [str(triage.get("verification") or "unverified")])]
    for name in ("act_types", "perpetrator", "un_link", "country"):
        if shown := _shown(QUESTIONS[name], triage.get(name), tr):
            rows.append((tr(QUESTIONS[name].label), shown))
    return rows


@bp.get("/cases/<case_id>/print")
@staff_session.require(*staff_session.STAFF)
def case_print(case_id: str) -> str:
    case, document = _staff_case(case_id)
    _record("case.export", case.id, "print")
    tr = catalogue(g.user.language or "en").gettext
    answers = document["report"]["answers"] if document["report"] else {}
    return render_template(
        "case_print.html",
        doc=document,
        consents=consent_rows(answers, tr),
        sections=answer_sections(answers, tr),
        triage=triage_rows(document["triage"], tr),
        referrals=[r for r in (document["triage"] or {}).get("referrals") or [] if isinstance(r, dict)],
        stages={value: label for value, (label, _) in STAGES.items()},
    )


# -- public statistics ---------------------------------------------------------------------------


def min_count() -> int:
    """k: counts below it are shown as "<k" (RRI_STATS_MIN_COUNT, default 5, at least 3)."""
    raw = os.environ.get("RRI_STATS_MIN_COUNT", "5")
    if not raw.isdigit() or not 3 <= int(raw) <= 1000:
        raise ValueError(f"RRI_STATS_MIN_COUNT must be a whole number from 3 to 1000, not {raw!r}")
    return int(raw)


def direct_facts(session: Session, keys: Keys, cases: list[Case]) -> tuple[list[statistics.Facts], int]:
    """Facts from the sealed reports and triage themselves: (facts, cases that did not open)."""
    # A few stragglers are fetched by id; everything, in one query, when it is most cases.
    envelopes = _first_submissions(session, [case.id for case in cases] if len(cases) <= 500 else None)
    found: list[statistics.Facts] = []
    unreadable = 0
    for case in cases:
        report = _open_json(keys, Purpose.REPORT, envelopes.get(case.id))
        triage = _open_json(keys, Purpose.TRIAGE, case.triage_envelope, context(case, "triage"))
        if report is None or (case.triage_envelope is not None and triage is None):
            unreadable += 1
            continue
        found.append(statistics.facts(case.received_on, report_answers(report), triage))
    return found, unreadable


_ENTRY_FIELDS = frozenset({"country", "act_types", "un_link", "consent_publish"})


def gather(session: Session, ring: Keyring) -> tuple[list[statistics.Facts], int]:
    """Facts for every case, from the encrypted inbox index where it has them (one AES-GCM open
    per case instead of an HPKE open), else from the sealed documents."""
    cases = list(session.scalars(select(Case)))
    try:
        from . import index
    except ImportError:  # the index is optional: statistics work without it
        return direct_facts(session, ring.private_keys(), cases)
    entries = index.read(session, ring, cases)
    found: list[statistics.Facts] = []
    unreadable = 0
    rest = []
    for case in cases:
        entry = entries.get(case.id)
        if entry is None or not entry.keys() >= _ENTRY_FIELDS:
            rest.append(case)
        elif entry.get("unreadable"):
            unreadable += 1
        else:  # the entry already holds the triage's overrides
            found.append(statistics.facts(case.received_on, entry))
    more, missed = direct_facts(session, ring.private_keys(), rest) if rest else ([], 0)
    return found + more, unreadable + missed


def _save_aggregate(aggregate: dict[str, Any]) -> bool:
    """Store the public aggregate so analysts (who hold no key) can read it.

    It is stored in clear on purpose: it holds only suppressed counts ("<k", "k+") over cases
    whose reporters allowed publication, and country names shared by at least k cases, exactly
    what may be published. Settings rows hold 512 characters, so it is split over
    ``public_statistics/<n>`` rows; the head row ``public_statistics`` names the date and count.
    """
    text = json.dumps(aggregate, ensure_ascii=True, separators=(",", ":"))
    parts = [text[i : i + _PART] for i in range(0, len(text), _PART)]
    try:
        with _db().session() as session:
            old = select(Setting).where(Setting.key.like(f"{STATS_KEY}/%"))
            for row in session.scalars(old):
                session.delete(row)
            session.flush()
            session.merge(Setting(key=STATS_KEY, value=json.dumps({"on": aggregate["on"], "parts": len(parts)})))
            for number, part in enumerate(parts):
                session.add(Setting(key=f"{STATS_KEY}/{number}", value=part))
    except IntegrityError:
        return False  # another staff member's refresh stored the same moment's figures
    return True


def load_aggregate(session: Session) -> dict[str, Any] | None:
    head = session.get(Setting, STATS_KEY)
    if head is None:
        return None
    parts = [session.get(Setting, f"{STATS_KEY}/{n}") for n in range(json.loads(head.value)["parts"])]
    if any(part is None for part in parts):
        return None  # caught half-written by a concurrent refresh; the next view has it
    return json.loads("".join(part.value for part in parts if part is not None))


def _aggregate() -> tuple[dict[str, Any] | None, str, int]:
    """(aggregate, "fresh" | "partial" | "stored", cases that did not open)."""
    ring = g.keyring
    if g.user.role in staff_session.STAFF and ring is not None and ring.intake:
        k = min_count()
        with _db().session() as session:
            facts, unreadable = gather(session, ring)
        aggregate = statistics.publish(facts, k, today())
        if unreadable:
            return aggregate, "partial", unreadable  # never replaces a complete stored copy
        _save_aggregate(aggregate)
        return aggregate, "fresh", 0
    with _db().session() as session:
        return load_aggregate(session), "stored", 0


def _labels() -> dict[str, dict[str, str]]:
    return {
        "act_type": {c.value: c.label for c in QUESTIONS["act_types"].choices},
        "un_link": {c.value: c.label for c in QUESTIONS["un_link"].choices},
    }


@bp.get("/statistics", endpoint="statistics")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_page() -> str:
    aggregate, source, unreadable = _aggregate()
    _record("statistics.export", None, f"page ({source})")
    return render_template(
        "statistics.html",
        aggregate=aggregate,
        source=source,
        unreadable=unreadable,
        labels=_labels(),
        tables=TABLES,
    )


@bp.get("/statistics.csv")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_csv() -> Response:
    aggregate, source, _ = _aggregate()
    if aggregate is None:
        abort(404)
    _record("statistics.export", None, f"csv ({source})")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(statistics.csv_rows(aggregate))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    return _download(response, f"statistics-{aggregate['on']}.csv")
