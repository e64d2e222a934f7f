"""Caseworker desk: the triage inbox page (the query side is cases.inbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue

from cases import countries, inbox
from cases.models import Status
from cases.questionnaire import QUESTIONS, STAGES

from . import forms
from . import session as staff_session
from .context import desk

bp = Blueprint("inbox", __name__)


def _labels(question: str) -> dict[str, str]:
    return {choice.value: choice.label for choice in QUESTIONS[question].choices}


ACT_LABELS = _labels("act_types")
UN_LABELS = _labels("un_link")
SITUATION_LABELS = _labels("situation")
STATUS_LABELS = {status: STAGES[status.value][0] for status in Status}


def filters_from(form: forms.InboxFilterForm) -> inbox.Filters:
    """From a form that validated."""
    return inbox.Filters(
        status=Status(form.status.data) if form.status.data else None,
        urgent={"": None, "yes": True, "no": False}[form.urgent.data],
        act=form.act.data,
        country=form.country.data,
        un=form.un.data,
        assignee=form.assignee.data,
        unread=form.unread.data == "yes",
    )


def _case_link() -> Callable[[str], str]:
    """The case page, by its endpoint when it is registered."""
    if "casework.view" in current_app.view_functions:
        return lambda case_id: url_for("casework.view", case_id=case_id)
    return lambda case_id: f"/cases/{case_id}"


@bp.get("/", endpoint="index")  # the nav links to inbox.index
@staff_session.require(*staff_session.STAFF)
def inbox_page() -> ResponseReturnValue:
    form = forms.InboxFilterForm(formdata=request.args)
    if not form.validate():
        message = f"These filters cannot be used: {form.problem()}."
        return render_template("error.html", code=400, message=message), 400
    filters = filters_from(form)
    context = desk()
    page = inbox.open_page(
        context.db, g.keyring, filters, g.user.id, form.page.data or 1, inbox.StaleRules.of(context.settings)
    )
    args: dict[str, Any] = filters.as_args()  # Any: url_for's own keyword arguments are not strings
    return render_template(
        "inbox.html",
        rows=page.rows,
        counts=page.counts,
        filters=filters,
        filtered=bool(args),
        page=page.number,
        pages=page.pages,
        page_url=lambda n: url_for("inbox.index", **args, page=n),
        case_url=_case_link(),
        names=page.names,
        staff=page.staff,
        me=g.user.id,
        act_labels=ACT_LABELS,
        un_labels=UN_LABELS,
        situation_labels=SITUATION_LABELS,
        status_labels=STATUS_LABELS,
        alert_situations=inbox.ALERT_SITUATIONS,
        country_choices=countries.choices(g.user.language),
        country_label=lambda value: countries.label(value, g.user.language),
    )
