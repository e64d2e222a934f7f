"""The triage inbox, read side: which cases match, in what order, and what needs attention.

One query loads every case's workflow columns and index blob, one grouped query counts unread
reporter messages; the index (cases.inbox_index) supplies what the reporter wrote about country,
harm and situation. Sorting, filtering and counting cover every matching case; only the returned
page of rows is cut.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from . import audit, countries, inbox_index
from .clock import today
from .config import Settings
from .db import Database
from .keyring import Keyring
from .models import Case, Caseworker, Direction, Message, ReportDetails, Role, Status

PAGE_SIZE = 100
ALERT_SITUATIONS = frozenset({"detained", "missing"})
STAFF = (Role.ADMIN, Role.CASEWORKER)  # the roles that may open, and so be given, cases


@dataclass(frozen=True)
class StaleRules:
    """Days to acknowledge, and days without activity, before a case is flagged stale."""

    ack_days: int
    idle_days: int

    @classmethod
    def of(cls, settings: Settings) -> StaleRules:
        return cls(settings.stale_ack_days, settings.stale_idle_days)


def _country_matches(wanted: str, stored: object) -> bool:
    """A code matches that country; "other" matches every place written out (not in the list)."""
    if not isinstance(stored, str) or not stored:
        return False
    if wanted == countries.OTHER:
        return stored not in countries.CODES
    return stored == wanted


@dataclass(frozen=True)
class Filters:
    """What the inbox is narrowed to; the web layer checks the parameters before building one."""

    status: Status | None = None
    urgent: bool | None = None
    act: str = ""
    country: str = ""  # an ISO 3166-1 code, or "other" (cases.countries)
    un: str = ""
    assignee: str = ""  # "", "me", "nobody" or a caseworker id
    unread: bool = False

    def as_args(self) -> dict[str, str]:
        """Only the filters in use, as query parameters (for page links and the audit)."""
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
        if self.country and not _country_matches(self.country, entry.get("country")):
            return False
        return not (self.unread and not row.unread)

    def where(self, me: int) -> list[ColumnElement[bool]]:
        """The filters the database can apply itself (clear workflow columns)."""
        clauses: list[ColumnElement[bool]] = []
        if self.urgent is not None:
            clauses.append(Case.urgent.is_(self.urgent))
        if self.assignee == "me":
            clauses.append(Case.assigned_to == me)
        elif self.assignee == "nobody":
            clauses.append(Case.assigned_to.is_(None))
        elif self.assignee:
            clauses.append(Case.assigned_to == int(self.assignee))
        return clauses


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
    entry: inbox_index.Entry
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


class Record(NamedTuple):
    """A case's columns as loaded for the inbox (a Core row: no ORM bookkeeping per case)."""

    id: str
    status: Status
    urgent: bool
    received_on: dt.date
    updated_on: dt.date
    acknowledged_on: dt.date | None
    assigned_to: int | None
    index_blob: bytes | None
    triage_envelope: bytes | None


@dataclass
class Counts:
    total: int = 0
    urgent: int = 0
    unacknowledged: int = 0
    stale: int = 0
    alert: int = 0
    by_status: Counter[str] = field(default_factory=Counter)


def _load(session: Session, filters: Filters, me: int) -> list[Record]:
    """Every case the database-side filters keep, in one query, as light rows."""
    stmt = select(*(getattr(Case, name) for name in Record._fields)).where(*filters.where(me))
    return [Record(*row) for row in session.connection().execute(stmt)]


def _unread(session: Session) -> dict[str, int]:
    """Per case, what came from the reporter that no caseworker has opened: messages and details."""
    messages = (
        select(Message.case_id, func.count())
        .where(Message.direction == Direction.FROM_REPORTER, Message.read_on.is_(None))
        .group_by(Message.case_id)
    )
    details = (
        select(ReportDetails.case_id, func.count())
        .where(ReportDetails.read_on.is_(None))
        .group_by(ReportDetails.case_id)
    )
    unread: dict[str, int] = {}
    for stmt in (messages, details):
        for case_id, count in session.execute(stmt):
            unread[case_id] = unread.get(case_id, 0) + count
    return unread


def _row(record: Record, entry: inbox_index.Entry, unread: int, on: dt.date, rules: StaleRules) -> Row:
    is_open = record.status is not Status.CLOSED
    return Row(
        record.id,
        record.status,
        record.urgent,
        record.received_on,
        record.updated_on,
        record.acknowledged_on,
        record.assigned_to,
        entry,
        unread=unread,
        open=is_open,
        alert=entry.get("situation") in ALERT_SITUATIONS,
        stale_ack=record.acknowledged_on is None and (on - record.received_on).days > rules.ack_days,
        stale_idle=is_open and (on - record.updated_on).days > rules.idle_days,
    )


def _count(rows: Sequence[Row], by_status: Counter[str]) -> Counts:
    return Counts(
        total=len(rows),
        urgent=sum(row.urgent and row.open for row in rows),
        unacknowledged=sum(row.acknowledged_on is None for row in rows),
        stale=sum(row.stale for row in rows),
        alert=sum(row.alert and row.open for row in rows),
        by_status=by_status,
    )


def select_rows(
    session: Session, ring: Keyring, filters: Filters, me: int, rules: StaleRules, on: dt.date | None = None
) -> tuple[list[Row], Counts, int]:
    """(sorted matching rows, their counts, index entries built on the way)."""
    on = on or today()
    records = _load(session, filters, me)
    entries, built = inbox_index.read_counted(session, ring, records)
    unread = _unread(session)
    rows = [_row(r, entries[r.id], unread.get(r.id, 0), on, rules) for r in records]
    rows = [row for row in rows if filters.keeps(row)]
    by_status = Counter(row.status.value for row in rows)  # before the status filter, to show every count
    if filters.status is not None:
        rows = [row for row in rows if row.status is filters.status]
    rows.sort(key=Row.sort_key)
    return rows, _count(rows, by_status), built


def people(session: Session) -> tuple[dict[int, str], list[tuple[int, str]]]:
    """(names of every account, the active staff who can be assigned cases)."""
    names: dict[int, str] = {}
    staff: list[tuple[int, str]] = []
    for worker_id, username, role, disabled in session.execute(
        select(Caseworker.id, Caseworker.username, Caseworker.role, Caseworker.disabled).order_by(Caseworker.username)
    ):
        names[worker_id] = username
        if role in STAFF and not disabled:
            staff.append((worker_id, username))
    return names, staff


@dataclass(frozen=True)
class Page:
    """One page of the inbox as a caseworker opened it."""

    rows: list[Row]
    counts: Counts
    number: int
    pages: int
    names: dict[int, str]  # every account, for "assigned to"
    staff: list[tuple[int, str]]  # who can be assigned cases


def open_page(db: Database, ring: Keyring, filters: Filters, me: int, wanted: int, rules: StaleRules) -> Page:
    """The wanted page (clamped to the last one) of the matching cases; the view is audited."""
    with db.session() as session:
        rows, counts, built = select_rows(session, ring, filters, me, rules)
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        number = min(max(wanted, 1), pages)
        names, staff = people(session)
        used = ",".join(sorted(filters.as_args())) or "-"
        audit.record(session, "inbox.view", actor_id=me, detail=f"page={number} filters={used} built={built}")
    shown = rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return Page(shown, counts, number, pages, names, staff)
