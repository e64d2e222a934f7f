"""A whole case for staff to take away: the JSON download and the printable page.

Both are drawn from the same case file as the case page; the page here is rendered escaped like
every other one, and the JSON leaves only as a download.
"""

from __future__ import annotations

import json
import re

from flask import Response, g, render_template
from flask.typing import ResponseReturnValue

from cases import case_export, casefile, errors
from cases.clock import today
from cases.questionnaire import QUESTIONS, STAGES
from cases.reading import CONSENT_FIELDS, Translate, catalogue, display
from cases.triage import CHOICE_FIELDS, Triage

from . import session as staff_session
from .case_blueprint import bp, keys, refusal
from .context import desk

_SAFE_ID = re.compile(r"[^a-z0-9]")


@bp.get("/cases/<case_id>/export.json")
@staff_session.require(*staff_session.STAFF)
def case_json(case_id: str) -> ResponseReturnValue:
    with desk().db.session() as session:
        try:
            opened = casefile.export(session, case_id, keys(), g.user.language, g.user.id, "json")
        except errors.DomainError as exc:
            return refusal(case_id, exc)
        document = case_export.document(opened)
    response = Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="case-{_SAFE_ID.sub("", opened.case.id)}.json"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def triage_rows(triage: Triage, tr: Translate, lang: str) -> list[tuple[str, list[str]]]:
    """The caseworkers' triage, labelled like the form (referrals are listed apart)."""
    rows = [("Verification", [triage.verification])]
    for name in (*CHOICE_FIELDS, "country"):
        if shown := display(QUESTIONS[name], getattr(triage, name), tr, lang):
            rows.append((tr(QUESTIONS[name].label), shown))
    return rows


@bp.get("/cases/<case_id>/print")
@staff_session.require(*staff_session.STAFF)
def case_print(case_id: str) -> ResponseReturnValue:
    tr = catalogue(g.user.language).gettext
    with desk().db.session() as session:
        try:
            opened = casefile.export(session, case_id, keys(), g.user.language, g.user.id, "print")
        except errors.DomainError as exc:
            return refusal(case_id, exc)
        stored = opened.stored_triage
        return render_template(
            "case_print.html",
            v=opened,
            exported_on=today().isoformat(),
            stage=STAGES[opened.case.status.value][0],
            consent_fields=CONSENT_FIELDS,
            triage=triage_rows(stored, tr, g.user.language) if stored else [],
            referrals=stored.referrals if stored else (),
        )
