"""Details a reporter added after the report, as the desk reads them: opened, bounded, merged.

The quick report asks three questions; everything else may come later, once or more, as sealed
details (docs/protocol.md §14.8). The desk reads one report: the original answers with every
details submission laid over them in the order received, a later answer to a question replacing
an earlier one. The case page, print, export, consent, inbox index and statistics all read the
merged answers from here, so a reporter who later says "no" is held to it everywhere.

A details envelope that does not open or parse is kept with its reason and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto.envelope import Purpose, open_envelope
from crypto.errors import OpenError

from . import report_schema
from .conversation import context
from .models import Case, ReportDetails
from .questionnaire import DETAILS
from .reading import Keys
from .report_schema import Answer, Report

_BATCH = 500


@dataclass(frozen=True)
class Added:
    """One details submission as opened: its answers (DETAILS questions only), or why not."""

    id: int
    on: dt.date
    answers: Mapping[str, Answer]
    problem: str | None = None


@dataclass(frozen=True)
class Merged:
    """The report's answers with every readable details submission laid over them."""

    report: Report | None
    added_on: dict[str, dt.date] = field(default_factory=dict)  # question -> day its answer came
    added: list[Added] = field(default_factory=list)


def open_one(keys: Keys, case_id: str, row_id: int, on: dt.date, envelope: bytes) -> Added:
    try:
        plain = open_envelope(keys, Purpose.DETAILS, envelope, context=context(case_id, "details"))
    except OpenError:
        return Added(row_id, on, {}, "it cannot be opened with your keys")
    try:
        parsed = report_schema.parse(plain)
    except report_schema.Unreadable as exc:
        return Added(row_id, on, {}, f"the reporter's client sent something the desk cannot read: {exc}")
    return Added(row_id, on, {k: v for k, v in parsed.answers.items() if k in DETAILS})


Row = tuple[int, dt.date, bytes]


def rows_of(session: Session, case_ids: Sequence[str]) -> dict[str, list[Row]]:
    """Every case's details rows (id, day, envelope) in the order received, in batched queries."""
    found: dict[str, list[Row]] = {}
    for start in range(0, len(case_ids), _BATCH):
        query = (
            select(ReportDetails.case_id, ReportDetails.id, ReportDetails.received_on, ReportDetails.envelope)
            .where(ReportDetails.case_id.in_(case_ids[start : start + _BATCH]))
            .order_by(ReportDetails.id)
        )
        for case_id, row_id, on, envelope in session.execute(query):
            found.setdefault(case_id, []).append((row_id, on, envelope))
    return found


def latest(session: Session, case_ids: Sequence[str] | None = None) -> dict[str, int]:
    """The newest details id of each case that has any (what an inbox entry records)."""
    query = select(ReportDetails.case_id, func.max(ReportDetails.id)).group_by(ReportDetails.case_id)
    if case_ids is not None and len(case_ids) <= _BATCH:
        query = query.where(ReportDetails.case_id.in_(case_ids))
    return {case_id: int(newest) for case_id, newest in session.execute(query)}


def merge(keys: Keys, case_id: str, report: Report | None, rows: Sequence[Row]) -> Merged:
    """Lay every details submission over the report, in order. Nothing is merged into a report
    that cannot be read (its consent stays "not given")."""
    added = [open_one(keys, case_id, row_id, on, envelope) for row_id, on, envelope in rows]
    if report is None:
        return Merged(None, {}, added)
    answers = dict(report.answers)
    raw_answers = report.raw.get("answers")
    shown = dict(raw_answers) if isinstance(raw_answers, dict) else {}
    added_on: dict[str, dt.date] = {}
    for item in added:
        if "country" in item.answers or "country_other" in item.answers:
            # A country is one answer in two fields: a new one replaces both.
            for name in ("country", "country_other"):
                answers.pop(name, None)
                shown.pop(name, None)
                added_on.pop(name, None)
        for name, value in item.answers.items():
            answers[name] = shown[name] = value
            added_on[name] = item.on
    raw = {**report.raw, "answers": shown}
    return Merged(Report(lang=report.lang, answers=answers, raw=raw), added_on, added)


def merged(keys: Keys, session: Session, case: Case, report: Report | None) -> Merged:
    return merge(keys, case.id, report, rows_of(session, [case.id]).get(case.id, []))
