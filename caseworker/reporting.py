"""Caseworker desk: case exports (JSON download, printable page) and public statistics.

Exports decrypt a whole case with the viewer's keys, in memory, for staff only; the JSON leaves
as a download and the printable page is rendered escaped like every other page. Statistics are
computed by staff (who hold the intake keys) and stored suppressed so that analysts, who hold
none, can read them (cases.statistics_snapshot).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from flask import Blueprint, Response, abort, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit, statistics, statistics_snapshot
from cases.clock import today
from cases.conversation import context
from cases.models import Case, Direction, Message, Note, Role, StatusChange
from cases.questionnaire import QUESTIONS, STAGES
from crypto.envelope import Purpose

from . import reading
from . import session as staff_session
from .context import desk
from .reading import CONSENT_FIELDS, Keys, Translate, catalogue, display, open_json

bp = Blueprint("reporting", __name__)

_SAFE_ID = re.compile(r"[^a-z0-9]")
TABLES = {  # dimension: (heading, column)
    "country": ("By country", "Country"),
    "act_type": ("By kind of reprisal", "Kind of reprisal"),
    "un_link": ("By UN mechanism", "UN mechanism"),
    "month": ("By month received", "Month received"),
}


# -- opening a case ------------------------------------------------------------------------------


def _attachments(session: Session, keys: Keys, case: Case, unreadable: list[str]) -> list[dict[str, Any]]:
    """Names, types and sizes from the sealed manifests; never the files themselves."""
    files = []
    for row, manifest, problem in reading.attachments(keys, session, case):
        if manifest is None:
            unreadable.append(f"attachment {row.id}: {problem}")
        files.append(
            {
                "id": row.id,
                "message": row.message_id,
                "complete": row.complete,
                "name": reading.shown_name(manifest.name) if manifest else None,
                "type": reading.shown_name(manifest.type) if manifest else None,
                "size": manifest.size if manifest else None,
            }
        )
    return files


def case_document(session: Session, keys: Keys, case: Case) -> dict[str, Any]:
    """The whole case, decrypted: what the JSON export holds and the printable page shows.

    A part that cannot be opened with these keys, or is malformed, is null and named in
    ``unreadable`` with the reason.
    """
    names = reading.usernames(session)
    unreadable: list[str] = []
    report, problem = reading.open_report(keys, session, case)
    if report is None:
        unreadable.append(f"report: {problem}")
    triage = open_json(keys, Purpose.TRIAGE, case.triage_envelope, context(case, "triage"))
    if case.triage_envelope is not None and triage is None:
        unreadable.append("triage")

    def opened(label: str, purpose: Purpose, envelope: bytes | None, ctx: bytes) -> str | None:
        text = reading.open_text(keys, purpose, envelope, ctx)
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
        "report": {"lang": report.lang, "answers": report.raw.get("answers", report.raw)} if report else None,
        "triage": triage,
        "timeline": timeline,
        "thread": thread,
        "notes": notes,
        "attachments": _attachments(session, keys, case, unreadable),
        "unreadable": unreadable,
    }


def _staff_case(case_id: str) -> tuple[Case, dict[str, Any]]:
    """Load and decrypt a case for the logged-in staff member; 404 if there is no such case."""
    with desk().db.session() as session:
        case = session.get(Case, case_id) if reading.ID_SHAPE.fullmatch(case_id) else None
        if case is None:
            abort(404)
        return case, case_document(session, g.keyring.private_keys(), case)


def _record(action: str, case_id: str | None, detail: str) -> None:
    with desk().db.session() as session:
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


def answer_sections(answers: dict[str, Any], tr: Translate) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """Every answered question, labelled, section by section; the consents stand apart and keys
    the form does not know are left out (the JSON export keeps them)."""
    return [
        (title, [(tr(q.label), shown) for q, shown in rows])
        for title, rows in reading.answer_sections(answers, tr, lines=True, leave_out=CONSENT_FIELDS)
    ]


def triage_rows(triage: dict[str, Any] | None, tr: Translate) -> list[tuple[str, list[str]]]:
    """The caseworkers' triage, labelled like the form (referrals are listed apart)."""
    if not triage:
        return []
    rows = [("Verification", [str(triage.get("verification") or "unverified")])]
    for name in ("act_types", "perpetrator", "un_link", "country"):
        if shown := display(QUESTIONS[name], triage.get(name), tr, lines=True):
            rows.append((tr(QUESTIONS[name].label), shown))
    return rows


@bp.get("/cases/<case_id>/print")
@staff_session.require(*staff_session.STAFF)
def case_print(case_id: str) -> str:
    case, document = _staff_case(case_id)
    _record("case.export", case.id, "print")
    tr = catalogue(g.user.language).gettext
    answers = document["report"]["answers"] if document["report"] else {}  # validated in case_document
    return render_template(
        "case_print.html",
        doc=document,
        consents=reading.consent_rows(answers, tr, lines=True),
        sections=answer_sections(answers, tr),
        triage=triage_rows(document["triage"], tr),
        referrals=[r for r in (document["triage"] or {}).get("referrals") or [] if isinstance(r, dict)],
        stages={value: label for value, (label, _) in STAGES.items()},
    )


# -- public statistics ---------------------------------------------------------------------------


def _figures() -> statistics_snapshot.Figures:
    """Fresh figures for staff (who hold the intake keys), the stored ones for analysts."""
    context = desk()
    ring = g.keyring if g.user.role in staff_session.STAFF else None
    return statistics_snapshot.current(context.db, ring, context.settings.stats_min_count)


def _labels() -> dict[str, dict[str, str]]:
    return {
        "act_type": {c.value: c.label for c in QUESTIONS["act_types"].choices},
        "un_link": {c.value: c.label for c in QUESTIONS["un_link"].choices},
    }


@bp.get("/statistics", endpoint="statistics")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_page() -> ResponseReturnValue:
    figures = _figures()
    _record("statistics.export", None, f"page ({figures.source})")
    return render_template(
        "statistics.html",
        aggregate=figures.aggregate,
        source=figures.source,
        unreadable=figures.unreadable,
        labels=_labels(),
        tables=TABLES,
        counted=statistics.COUNTED,
    )


@bp.get("/statistics.csv")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_csv() -> ResponseReturnValue:
    figures = _figures()
    aggregate = figures.aggregate
    if aggregate is None:
        abort(404)
    _record("statistics.export", None, f"csv ({figures.source})")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(statistics.csv_rows(aggregate))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    return _download(response, f"statistics-{aggregate['on']}.csv")
