"""The case page: the whole case file, with the forms that act on it."""

from __future__ import annotations

from flask import g, render_template
from flask.typing import ResponseReturnValue

from cases import case_actions, casefile, countries, errors, triage
from cases.clock import today
from cases.models import Status
from cases.questionnaire import QUESTIONS, STAGES
from cases.reading import catalogue

from . import session as staff_session
from .case_blueprint import bp, keys, refusal
from .context import desk


@bp.get("/cases/<case_id>")
@staff_session.require(*staff_session.STAFF)
def view(case_id: str) -> ResponseReturnValue:
    with desk().db.session() as session:
        try:
            page = casefile.read(session, case_id, keys(), g.user.language, g.user.id)
        except errors.DomainError as exc:
            return refusal(case_id, exc)
        # No triage yet: the form starts from what the reporter said (nothing is stored).
        start = triage.suggested(page.report.answers if page.report else {}) if page.triage_suggested else page.triage
        return render_template(
            "case.html",
            v=page,
            triage_form=start,
            staff=case_actions.staff_choices(session),
            tr=catalogue(g.user.language).gettext,
            questions=QUESTIONS,
            country_choices=countries.choices(g.user.language),
            country_codes=countries.CODES,
            verification=triage.VERIFICATION,
            statuses=[(s.value, STAGES[s.value][0]) for s in Status],
            stage=STAGES[page.case.status.value][0],
            today=today().isoformat(),
        )
