"""Caseworker desk: the triage inbox.

One query loads every case's workflow columns and index blob, one grouped query counts unread
reporter messages; the index (caseworker.index) supplies what the reporter wrote about country,
harm and situation. Sorting, filtering and counting cover every matching case; only the rendered
rows are paginated.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, g, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases import audit
from cases.clock import today
from cases.db import Database
from cases.models import Case, Caseworker, Direction, Message, Status
from cases.questionnaire import QUESTIONS, STAGES

from . import forms, index
from . import session as staff_session
from .context import desk

bp = Blueprint("inbox", __name__)

PAGE_SIZE = 100
ALERT_SITUATIONS = frozenset({"detained", "missing"})


def _labels(question: str) -> dict[str, str]:
    return {choice.value: choice.label for choice in QUESTIONS[question].choices}


ACT_LABELS = _labels("act_types")
UN_LABELS = _labels("un_link")
SITUATION_LABELS = _labels("situation")
STATUS_LABELS = {status: STAGES[status.value][0] for status in Status}


def stale_limits() -> tuple[int, int]:
    """(days to acknowledge, days without activity) before a case is flagged stale."""
    settings = desk().settings
    return settings.stale_ack_days, settings.stale_idle_days


# -- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The inbox's GET parameters, checked; anything malformed is a 400, never ignored."""

    status: Status | None = None
    urgent: bool | None = None
    act: str = ""
    country: str = ""
    un: str = ""
    assignee: str = ""  # "", "me", "nobody" or a caseworker id
    unread: bool = False

    @classmethod
    def parse(cls, form: forms.InboxFilterForm) -> Filters:
        """From a form that validated."""
        urgent = {"": None, "yes": True, "no": False}[form.urgent.data]
        return cls(
            status=Status(form.status.data) if form.status.data else None,
            urgent=urgent,
            act=form.act.data,
            country=form.country.data,
            un=form.un.data,
            assignee=form.assignee.data,
            unread=form.unread.data == "yes",
        )

    def as_args(self) -> dict[str, str]:
        """Only the filters in use, as query parameters (for page links)."""
        args = {
            "status": self.status.value if self.status else "",
            "urgent": "" if self.urgent is None else "yes" if self.urgent else "no",
            "act": self.act,
            "country": self.country,
            "un": self.un,
            "assignee": self.assignee,
            "unread": "yes" if self.unread else "",
        }
        return {name: value for name, value in args.items() if value}

    def keeps(self, row: Row) -> bool:
        """Everything but status, which is applied after counting per status."""
        entry = row.entry
        if self.act and self.act not in entry.get("act_types", []):
            return False
        if self.un and self.un not in entry.get("un_link", []):
            return False
        if self.country and self.country.casefold() not in entry.get("country", "").casefold():
            return False
        return not (self.unread and not row.unread)


def _where(filters: Filters, me: int) -> list[Any]:
    """The filters the database can apply itself (clear workflow columns)."""
    clauses: list[Any] = []
    if filters.urgent is not None:
        clauses.append(Case.urgent.is_(filters.urgent))
    if filters.assignee == "me":
        clauses.append(Case.assigned_to == me)
    elif filters.assignee == "nobody":
        clauses.append(Case.assigned_to.is_(None))
    elif filters.assignee:
        clauses.append(Case.assigned_to == int(filters.assignee))
    return clauses


# -- rows -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One case as the inbox shows it; the flags are computed once, as 10,000 rows get sorted."""

    id: str
    status: Status
    urgent: bool
    received_on: dt.date
    updated_on: dt.date
    acknowledged_on: dt.date | None
    assigned_to: int | None
    entry: dict[str, Any]
    unread: int
    open: bool
    alert: bool  # someone detained or missing: shown prominently and sorted up
    stale_ack: bool
    stale_idle: bool

    @property
    def stale(self) -> bool:
        return self.stale_ack or self.stale_idle

    def sort_key(self) -> tuple[int, int, int, str]:
        # Closed cases are not pushed up: an urgent case from last year must not sit on top.
        tier = 0 if self.urgent and self.open else 1 if self.alert and self.open else 2
        if self.acknowledged_on is None:
            return (tier, 0, self.received_on.toordinal(), self.id)  # oldest waiting first
        return (tier, 1, -self.updated_on.toordinal(), self.id)  # most recent activity first


def _load(session: Session, filters: Filters, me: int) -> list[Any]:
    """Every case the database-side filters keep, in one query, as light rows (no ORM objects)."""
    stmt = select(
        Case.id,
        Case.status,
        Case.urgent,
        Case.received_on,
        Case.updated_on,
        Case.acknowledged_on,
        Case.assigned_to,
        Case.index_blob,
        Case.triage_envelope,
    ).where(*_where(filters, me))
    return list(session.connection().execute(stmt))  # Core rows: no ORM bookkeeping per case


def _unread(session: Session) -> dict[str, int]:
    stmt = (
        select(Message.case_id, func.count())
        .where(Message.direction == Direction.FROM_REPORTER, Message.read_on.is_(None))
        .group_by(Message.case_id)
    )
    return {case_id: count for case_id, count in session.execute(stmt)}


def _rows(records: list[Any], entries: dict[str, dict[str, Any]], unread: dict[str, int], on: dt.date) -> list[Row]:
    ack_days, idle_days = stale_limits()
    rows = []
    for case_id, status, urgent, received, updated, acknowledged, assigned, *_blobs in records:
        entry = entries[case_id]
        is_open = status is not Status.CLOSED
        rows.append(
            Row(
                case_id,
                status,
                urgent,
                received,
                updated,
                acknowledged,
                assigned,
                entry,
                unread=unread.get(case_id, 0),
                open=is_open,
                alert=entry.get("situation") in ALERT_SITUATIONS,
                stale_ack=acknowledged is None and (on - received).days > ack_days,
                stale_idle=is_open and (on - updated).days > idle_days,
            )
        )
    return rows


@dataclass
class Counts:
    total: int = 0
    urgent: int = 0
    unacknowledged: int = 0
    stale: int = 0
    alert: int = 0
    by_status: Counter[str] = field(default_factory=Counter)


def _count(rows: list[Row], by_status: Counter[str]) -> Counts:
    return Counts(
        total=len(rows),
        urgent=sum(row.urgent and row.open for row in rows),
        unacknowledged=sum(row.acknowledged_on is None for row in rows),
        stale=sum(row.stale for row in rows),
        alert=sum(row.alert and row.open for row in rows),
        by_status=by_status,
    )


def select_rows(session: Session, filters: Filters, me: int) -> tuple[list[Row], Counts, int]:
    """(sorted matching rows, their counts, index entries built on the way)."""
    records = _load(session, filters, me)
    entries, built = index.read_counted(session, g.keyring, records)
    rows = [row for row in _rows(records, entries, _unread(session), today()) if filters.keeps(row)]
    by_status = Counter(row.status.value for row in rows)  # before the status filter, to show every count
    if filters.status is not None:
        rows = [row for row in rows if row.status is filters.status]
    rows.sort(key=Row.sort_key)
    return rows, _count(rows, by_status), built


# -- the page -------------------------------------------------------------------------------------


def _case_link() -> Callable[[str], str]:
    """The case page, by its endpoint when it is registered."""
    if "casework.view" in current_app.view_functions:
        return lambda case_id: url_for("casework.view", case_id=case_id)
    return lambda case_id: f"/cases/{case_id}"


def _people(session: Session) -> tuple[dict[int, str], list[tuple[int, str]]]:
    """(names of every account, the active staff who can be assigned cases)."""
    names: dict[int, str] = {}
    staff: list[tuple[int, str]] = []
    for worker_id, username, role, disabled in session.execute(
        select(Caseworker.id, Caseworker.username, Caseworker.role, Caseworker.disabled).order_by(Caseworker.username)
    ):
        names[worker_id] = username
        if role in staff_session.STAFF and not disabled:
            staff.append((worker_id, username))
    return names, staff


@bp.get("/", endpoint="index")  # the nav links to inbox.index
@staff_session.require(*staff_session.STAFF)
def inbox():  # type: ignore[no-untyped-def]
    form = forms.InboxFilterForm(formdata=request.args)
    if not form.validate():
        message = f"These filters cannot be used: {form.problem()}."
        return render_template("error.html", code=400, message=message), 400
    filters = Filters.parse(form)
    db: Database = desk().db
    with db.session() as session:
        rows, counts, built = select_rows(session, filters, g.user.id)
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(form.page.data or 1, pages)
        names, staff = _people(session)
        used = ",".join(sorted(filters.as_args())) or "-"
        audit.record(session, "inbox.view", actor_id=g.user.id, detail=f"page={page} filters={used} built={built}")
    args = filters.as_args()
    return render_template(
        "inbox.html",
        rows=rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        counts=counts,
        filters=filters,
        filtered=bool(args),
        page=page,
        pages=pages,
        page_url=lambda n: url_for("inbox.index", **args, page=n),
        case_url=_case_link(),
        names=names,
        staff=staff,
        me=g.user.id,
        act_labels=ACT_LABELS,
        un_labels=UN_LABELS,
        situation_labels=SITUATION_LABELS,
        status_labels=STATUS_LABELS,
        alert_situations=ALERT_SITUATIONS,
    )
