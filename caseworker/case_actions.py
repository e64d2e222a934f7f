"""What a caseworker does to a case from its page: each view parses its form, calls one
function of ``cases.case_actions`` and sends the caseworker back to the part they changed."""

from __future__ import annotations

from collections.abc import Callable

from flask import g
from flask.typing import ResponseReturnValue

from cases import case_actions as act
from cases import errors, inbox_index
from cases.db import Session
from cases.models import Status

from . import forms
from . import session as staff_session
from .case_blueprint import back, bp, keys, not_saved, refusal, refuse
from .context import desk

STAFF = staff_session.STAFF


def _reindex() -> act.Reindex:
    """The inbox index's refresh, with this caseworker's keys (triage changes what it shows)."""
    ring = g.keyring
    return lambda session, case: inbox_index.rebuild(session, ring, case)


def _apply(case_id: str, part: str, action: Callable[[Session], object]) -> ResponseReturnValue:
    """One domain action in one unit of work; a refusal (and its audit event, committed with it)
    comes back as a message on the case page, success as the part of the page it changed."""
    with desk().db.session() as session:
        try:
            action(session)
        except errors.DomainError as exc:
            return refusal(case_id, exc)
    return back(case_id, part)


@bp.post("/cases/<case_id>/triage")
@staff_session.require(*STAFF)
def update_triage(case_id: str) -> ResponseReturnValue:
    form = forms.TriageForm()
    if not form.validate():
        return not_saved(case_id, form)
    return _apply(
        case_id,
        "triage",
        lambda session: act.save_triage(
            session, case_id, keys(), form.data, bool(form.urgent.data), g.user.id, _reindex()
        ),
    )


@bp.post("/cases/<case_id>/referrals")
@staff_session.require(*STAFF)
def add_referral(case_id: str) -> ResponseReturnValue:
    form = forms.ReferralForm()
    if not form.validate():
        return not_saved(case_id, form)
    return _apply(
        case_id,
        "referrals",
        lambda session: act.add_referral(
            session,
            case_id,
            keys(),
            form.to.data,
            form.on.data,
            form.outcome.data,
            bool(form.authorities.data),
            g.user.id,
            _reindex(),
        ),
    )


@bp.post("/cases/<case_id>/referrals/<int:number>")
@staff_session.require(*STAFF)
def update_referral(case_id: str, number: int) -> ResponseReturnValue:
    form = forms.OutcomeForm()
    if not form.validate():
        return not_saved(case_id, form)
    return _apply(
        case_id,
        "referrals",
        lambda session: act.set_outcome(session, case_id, keys(), number, form.outcome.data, g.user.id, _reindex()),
    )


@bp.post("/cases/<case_id>/assign")
@staff_session.require(*STAFF)
def assign(case_id: str) -> ResponseReturnValue:
    form = forms.AssignForm()
    if not form.validate():
        return refusal(case_id, act.NotAssignable())
    return _apply(case_id, "assignment", lambda session: act.assign(session, case_id, form.to.data, g.user.id))


@bp.post("/cases/<case_id>/status")
@staff_session.require(*STAFF)
def change_status(case_id: str) -> ResponseReturnValue:
    form = forms.StatusForm()
    if not form.validate():
        if form.status.errors:
            return refuse(case_id, "Choose one of the listed stages.", 400)
        return refuse(case_id, f"Nothing was sent: the explanation is longer than {forms.MAX_REPLY} characters.", 400)
    return _apply(
        case_id,
        "timeline",
        lambda session: act.change_status(session, case_id, Status(form.status.data), form.explanation.data, g.user.id),
    )


@bp.post("/cases/<case_id>/reply")
@staff_session.require(*STAFF)
def reply(case_id: str) -> ResponseReturnValue:
    form = forms.ReplyForm()
    if not form.validate():
        return refuse(case_id, f"Nothing was sent: write a reply of 1 to {forms.MAX_REPLY} characters.", 400)
    return _apply(case_id, "thread", lambda session: act.reply(session, case_id, form.text.data, g.user.id))


@bp.post("/cases/<case_id>/notes")
@staff_session.require(*STAFF)
def add_note(case_id: str) -> ResponseReturnValue:
    form = forms.NoteForm()
    if not form.validate():
        return refuse(case_id, f"Nothing was saved: write a note of 1 to {forms.MAX_NOTE} characters.", 400)
    return _apply(case_id, "notes", lambda session: act.add_note(session, case_id, form.text.data, g.user.id))
