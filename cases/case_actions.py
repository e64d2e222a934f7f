"""What a caseworker does to a case: triage, referrals, assignment, stages, replies, notes.

Each action takes the case's row lock when it reads before it writes, checks every rule before
it writes anything, seals what a person wrote, and leaves one audit event whose detail names
what happened, never what anyone wrote. A refusal is a ``DomainError`` raised before any write;
a refused referral is itself audited (the caller commits that event with the refusal page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, conversation, details, errors, notes, triage
from .casefile import get
from .clock import today
from .consent import Consent, ReferralRefused, unknown
from .models import Case, Caseworker, Role, Status
from .reading import Keys, open_report
from .reports import Rejected

ASSIGNABLE = frozenset({Role.ADMIN, Role.CASEWORKER})  # analysts never hold cases
# Refreshes a case's encrypted inbox entry after its triage changed, in the same transaction.
Reindex = Callable[[Session, Case], object]


class TooManyReferrals(errors.Invalid):
    def __init__(self) -> None:
        super().__init__("This case has too many referrals to add another.")


class NoSuchReferral(errors.NotFound):
    def __init__(self) -> None:
        super().__init__("no such referral")


class NotAssignable(errors.Invalid):
    def __init__(self) -> None:
        super().__init__("Cases can only be assigned to an enabled caseworker or admin.")


class ChannelClosed(errors.Refused):
    """The reporter deleted their reply channel: nothing more can reach them."""


def staff_choices(session: Session) -> list[Caseworker]:
    """Who a case may be assigned to: enabled admins and caseworkers."""
    return list(
        session.scalars(
            select(Caseworker)
            .where(Caseworker.disabled.is_(False), Caseworker.role.in_(list(ASSIGNABLE)))
            .order_by(Caseworker.username)
        )
    )


def save_triage(
    session: Session,
    case_id: str,
    keys: Keys,
    values: Mapping[str, object],
    urgent: bool,
    actor_id: int,
    reindex: Reindex | None = None,
) -> Case:
    """Replace the triage's fields (``values``, from the form) and urgency; referrals are kept."""
    case = get(session, case_id, lock=True)
    old = triage.load_for_update(keys, case)
    new = replace(triage.normalise(values), referrals=old.referrals)
    fields = new.changed(old) + (["urgent"] if urgent != case.urgent else [])
    if case.triage_envelope is None and not fields:
        fields = ["created"]  # a first triage that confirms the defaults is still a decision
    case.urgent = urgent
    _store(session, case, new, reindex)
    audit.record(
        session, "triage.update", actor_id=actor_id, case_id=case.id, detail="fields=" + ",".join(fields or ["none"])
    )
    return case


def _store(session: Session, case: Case, new: triage.Triage, reindex: Reindex | None) -> None:
    triage.store(session, case, new)
    if reindex is not None:
        reindex(session, case)


def _consent(keys: Keys, session: Session, case: Case) -> Consent:
    # Details added later count: a reporter who later says "no" is held to it (cases.details).
    report = details.merged(keys, session, case, open_report(keys, session, case).report).report
    if report is None:
        raise unknown()
    return Consent.from_answers(report.answers)


def add_referral(
    session: Session,
    case_id: str,
    keys: Keys,
    to: str,
    on: str,
    outcome: str,
    authorities: bool,
    actor_id: int,
    reindex: Reindex | None = None,
) -> Case:
    """Record a referral, only as far as the reporter's consent allows (a refusal is audited)."""
    case = get(session, case_id, lock=True)
    try:
        _consent(keys, session, case).check_referral(authorities)
    except ReferralRefused as refused:
        audit.record(session, "referral.refused", actor_id=actor_id, case_id=case.id, detail=f"reason={refused.reason}")
        raise
    old = triage.load_for_update(keys, case)
    entry = triage.referral(to, on or today().isoformat(), outcome, authorities)
    if len(old.referrals) >= triage.MAX_REFERRALS:
        raise TooManyReferrals()
    _store(session, case, replace(old, referrals=(*old.referrals, entry)), reindex)
    detail = f"referral={len(old.referrals)} authorities={int(authorities)}"
    audit.record(session, "referral.add", actor_id=actor_id, case_id=case.id, detail=detail)
    return case


def set_outcome(
    session: Session,
    case_id: str,
    keys: Keys,
    number: int,
    outcome: str,
    actor_id: int,
    reindex: Reindex | None = None,
) -> Case:
    """Write what came of referral ``number`` (0-based)."""
    case = get(session, case_id, lock=True)
    old = triage.load_for_update(keys, case)
    if not 0 <= number < len(old.referrals):
        raise NoSuchReferral()
    referrals = list(old.referrals)
    was = referrals[number]
    referrals[number] = triage.referral(was.to, was.on, outcome, was.authorities)
    _store(session, case, replace(old, referrals=tuple(referrals)), reindex)
    audit.record(
        session, "referral.update", actor_id=actor_id, case_id=case.id, detail=f"referral={number} fields=outcome"
    )
    return case


def assign(session: Session, case_id: str, worker_id: int | None, actor_id: int) -> Case:
    """Give the case to an enabled admin or caseworker, or to nobody (``worker_id`` None)."""
    # Locked, so the stored assignee is the one the last audited request chose.
    case = get(session, case_id, lock=True)
    if worker_id is not None:
        worker = session.get(Caseworker, worker_id)
        if worker is None or worker.disabled or worker.role not in ASSIGNABLE:
            raise NotAssignable()
    case.assigned_to = worker_id
    audit.record(session, "case.assign", actor_id=actor_id, case_id=case.id, detail=f"to={worker_id or 'nobody'}")
    return case


def change_status(session: Session, case_id: str, status: Status, explanation: str, actor_id: int) -> Case:
    """Move the case to ``status``; an explanation, if any, is sealed for the reporter too."""
    # Locked, so the case's status is always its timeline's last step.
    case = get(session, case_id, lock=True)
    if explanation and case.reporter_public_key is None:
        raise ChannelClosed(
            "The reporter deleted their reply channel: no explanation can reach them. Change the stage "
            "without one, or write an internal note."
        )
    conversation.change_status(session, case, status, explanation, actor_id)
    detail = f"status={status.value} explained={int(bool(explanation))}"
    audit.record(session, "status.change", actor_id=actor_id, case_id=case.id, detail=detail)
    return case


def reply(session: Session, case_id: str, text: str, actor_id: int) -> Case:
    """Answer the reporter, through the channel their token opens."""
    # Locked like the reporter's channel deletion locks it: a reply racing the deletion is
    # either erased by it or finds no key, never left sealed to a key the reporter deleted.
    case = get(session, case_id, lock=True)
    try:
        conversation.reply(session, case, text, actor_id)
    except Rejected:
        raise ChannelClosed("The reporter deleted their reply channel: a reply can no longer reach them.") from None
    audit.record(session, "reply.send", actor_id=actor_id, case_id=case.id)
    return case


def add_note(session: Session, case_id: str, text: str, actor_id: int) -> Case:
    case = get(session, case_id)
    notes.add(session, case, text, actor_id)
    audit.record(session, "note.add", actor_id=actor_id, case_id=case.id)
    return case
