"""Adding details after the quick report (docs/protocol.md §14.8), with the token, now or later.

The report form asks three questions; the receipt and the status page offer the rest here. With
JavaScript the answers are sealed in the browser (app.js, purpose details) and posted to
``/api/details``; without it the server checks them with the report's own rules and seals them
in memory. Either way they are stored as a new row and the reporter lands on the status page.
"""

from __future__ import annotations

from flask import jsonify, render_template
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from cases import countries
from cases.conversation import context
from cases.filing import Reporter
from cases.proof_of_work import Path
from cases.questionnaire import DETAILS_SECTIONS

from . import answers, bodies, csrf, schemas
from .context import intake
from .forms import DetailsFields, DetailsForm, TokenForm, posted
from .i18n import current
from .i18n import gettext as _
from .pages import bp, challenges, status_page
from .principal import reporter_json, reporter_page, unsendable


def details_page(
    reporter: Reporter, values: MultiDict[str, str] | None = None, errors: dict[str, str] | None = None
) -> str:
    standing = intake().filing.standing(reporter)
    return render_template(
        "details.html",
        sections=DETAILS_SECTIONS,
        country_choices=countries.choices(current().code),
        values=values or MultiDict(),
        errors=errors or {},
        field_errors={name: text for name, text in (errors or {}).items() if name},  # "" is the page's
        token=reporter.token,
        contacts=intake().contacts,
        intake_public_key=standing.intake_key.text,
        details_context=context(standing.view.case, "details").decode(),
        csrf_token=csrf.token(),
        **challenges(),
        challenge_done=intake().pow.challenge(Path.FORM),  # the landing after app.js sent them
        js_challenge_done=intake().pow.challenge(Path.JS),
    )


def added(reporter: Reporter) -> str:
    return status_page(reporter, _("Your details were added."))


@bp.post("/details")
@reporter_page(TokenForm)
def details(_form: TokenForm, reporter: Reporter) -> ResponseReturnValue:
    return details_page(reporter)


@bp.post("/details/send")
@bodies.limit(schemas.MAX_BODY_BYTES)
@reporter_page(DetailsForm)
def send_details(form: DetailsFields, reporter: Reporter) -> ResponseReturnValue:
    """No JavaScript: checked like a report, sealed in memory, stored; nothing if an answer is bad."""
    if not form.check():
        return details_page(reporter, MultiDict(posted()), form.problems()), 400
    given = form.answers()
    if not given:
        return details_page(reporter, errors={"": _("Answer at least one question, or go back.")}), 400
    filing = intake().filing
    filing.add_details(reporter, filing.seal_details(reporter, answers.report_json(given, current().code)))
    return added(reporter)


@bp.post("/details/added")
@reporter_page(TokenForm)
def details_added(_form: TokenForm, reporter: Reporter) -> ResponseReturnValue:
    """Where app.js lands after sealing and sending details: the status page, saying so."""
    return added(reporter)


@bp.post("/api/details")
@bodies.limit(schemas.MAX_BODY_BYTES)
@reporter_json(schemas.DetailsBody)
def details_api(body: schemas.DetailsBody, reporter: Reporter) -> ResponseReturnValue:
    if body.files:
        return unsendable()
    intake().filing.add_details(reporter, body.details)
    return jsonify(added=True)
