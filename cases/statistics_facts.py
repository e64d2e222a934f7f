"""What public statistics count, gathered from the cases: one ``statistics.Facts`` per case that
the viewer's keys open, taken from the encrypted inbox index where it has them (one AES-GCM open
per case instead of an HPKE open), else from the sealed report and triage themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.envelope import Purpose

from . import details, inbox_index, reading, statistics
from .conversation import context
from .keyring import Keyring
from .models import Case, Submission

_FETCH_ALL = 500  # more cases than this: every first submission in one query, not by id
_ENTRY_FIELDS = frozenset({"country", "act_types", "un_link", "consent_publish"})


def _first_submissions(session: Session, case_ids: Sequence[str] | None = None) -> dict[str, bytes]:
    query = select(Submission.case_id, Submission.envelope).order_by(Submission.id)
    if case_ids is not None:
        query = query.where(Submission.case_id.in_(case_ids))
    found: dict[str, bytes] = {}
    for case_id, envelope in session.execute(query):
        found.setdefault(case_id, envelope)
    return found


def direct_facts(session: Session, keys: reading.Keys, cases: Sequence[Case]) -> tuple[list[statistics.Facts], int]:
    """Facts from the sealed reports and triage themselves: (facts, cases that did not open).

    A malformed report is left out without making the figures partial: no key would open it
    better, and it cannot be counted anyway.
    """
    # A few stragglers are fetched by id; everything, in one query, when it is most cases.
    envelopes = _first_submissions(session, [case.id for case in cases] if len(cases) <= _FETCH_ALL else None)
    added = details.rows_of(session, [case.id for case in cases])  # merged over the report's answers
    found: list[statistics.Facts] = []
    unreadable = 0
    for case in cases:
        first, problem = reading.parse_report(keys, envelopes.get(case.id))
        report = details.merge(keys, case.id, first, added.get(case.id, [])).report
        triage = reading.open_json(keys, Purpose.TRIAGE, case.triage_envelope, context(case, "triage"))
        if (report is None and problem == reading.NO_KEY) or (case.triage_envelope is not None and triage is None):
            unreadable += 1
        elif report is not None:
            found.append(statistics.facts(case.received_on, report.answers, triage))
    return found, unreadable


def gather(session: Session, ring: Keyring) -> tuple[list[statistics.Facts], int]:
    """Facts for every case: (facts, cases these keys could not open)."""
    cases = list(session.scalars(select(Case)))
    entries = inbox_index.read(session, ring, cases)
    found: list[statistics.Facts] = []
    unreadable = 0
    rest = []
    for case in cases:
        entry = entries.get(case.id)
        if entry is None or not entry.keys() >= _ENTRY_FIELDS:
            rest.append(case)
        elif entry.get("unreadable"):
            unreadable += 1
        elif not entry.get("invalid"):  # the entry already holds the triage's overrides
            found.append(statistics.facts(case.received_on, entry, {"verification": entry.get("verification")}))
    more, missed = direct_facts(session, ring.private_keys(), rest) if rest else ([], 0)
    return found + more, unreadable + missed
