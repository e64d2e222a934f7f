"""Caseworker desk: public statistics (case exports live in ``exports``).

Statistics are computed by staff (who hold the intake keys) and stored suppressed so that
analysts, who hold none, can read them (see ``_save_aggregate``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from flask import Blueprint, Response, abort, g, render_template
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from cases import audit, bounded_json, reading, statistics
from cases.clock import today
from cases.conversation import context
from cases.keyring import Keyring
from cases.models import Case, Role, Setting, Submission
from cases.questionnaire import QUESTIONS
from cases.reading import Keys, open_json
from crypto.envelope import Purpose

from . import session as staff_session
from .context import desk

bp = Blueprint("reporting", __name__)

STATS_KEY = "public_statistics"
_PART = 480  # characters per settings row: settings.value is VARCHAR(512)
_MAX_PARTS = 2000  # about 1 MB of figures, far beyond any real aggregate
_SAFE_ID = re.compile(r"[^a-z0-9]")
TABLES = {  # dimension: (heading, column)
    "country": ("By country", "Country"),
    "act_type": ("By kind of reprisal", "Kind of reprisal"),
    "un_link": ("By UN mechanism", "UN mechanism"),
    "month": ("By month received", "Month received"),
}


# -- opening a case ------------------------------------------------------------------------------


def _first_submissions(session: Session, case_ids: list[str] | None = None) -> dict[str, bytes]:
    query = select(Submission.case_id, Submission.envelope).order_by(Submission.id)
    if case_ids is not None:
        query = query.where(Submission.case_id.in_(case_ids))
    found: dict[str, bytes] = {}
    for case_id, envelope in session.execute(query):
        found.setdefault(case_id, envelope)
    return found


def _record(action: str, case_id: str | None, detail: str) -> None:
    with desk().db.session() as session:
        audit.record(session, action, actor_id=g.user.id, case_id=case_id, detail=detail)


def _download(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- public statistics ---------------------------------------------------------------------------


def min_count() -> int:
    """k: counts below it are shown as "<k" (RRI_STATS_MIN_COUNT, default 5, at least 3)."""
    return desk().settings.stats_min_count


def direct_facts(session: Session, keys: Keys, cases: list[Case]) -> tuple[list[statistics.Facts], int]:
    """Facts from the sealed reports and triage themselves: (facts, cases that did not open).

    A malformed report is left out without making the figures partial: no key would open it
    better, and it cannot be counted anyway.
    """
    # A few stragglers are fetched by id; everything, in one query, when it is most cases.
    envelopes = _first_submissions(session, [case.id for case in cases] if len(cases) <= 500 else None)
    found: list[statistics.Facts] = []
    unreadable = 0
    for case in cases:
        report, problem = reading.parse_report(keys, envelopes.get(case.id))
        triage = open_json(keys, Purpose.TRIAGE, case.triage_envelope, context(case, "triage"))
        if (report is None and problem == reading.NO_KEY) or (case.triage_envelope is not None and triage is None):
            unreadable += 1
        elif report is not None:
            found.append(statistics.facts(case.received_on, report.answers, triage))
    return found, unreadable


_ENTRY_FIELDS = frozenset({"country", "act_types", "un_link", "consent_publish"})


def gather(session: Session, ring: Keyring) -> tuple[list[statistics.Facts], int]:
    """Facts for every case, from the encrypted inbox index where it has them (one AES-GCM open
    per case instead of an HPKE open), else from the sealed documents."""
    cases = list(session.scalars(select(Case)))
    try:
        from . import index
    except ImportError:  # the index is optional: statistics work without it
        return direct_facts(session, ring.private_keys(), cases)
    entries = index.read(session, ring, cases)
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


def _save_aggregate(aggregate: dict[str, Any]) -> bool:
    """Store the public aggregate so analysts (who hold no key) can read it.

    It is stored in clear on purpose: it holds only suppressed counts ("<k", "k+") over cases
    whose reporters allowed publication, and country names shared by at least k cases, exactly
    what may be published. Settings rows hold 512 characters, so it is split over
    ``public_statistics/<n>`` rows; the head row ``public_statistics`` names the date and count.
    """
    text = json.dumps(aggregate, ensure_ascii=True, separators=(",", ":"))
    parts = [text[i : i + _PART] for i in range(0, len(text), _PART)]
    with desk().db.session() as session:
        if load_aggregate(session) == aggregate:
            return True  # most views change nothing: no write, so no lock to wait for
    try:
        with desk().db.session() as session:
            # One statement: a row another refresh deleted meanwhile is not an error.
            session.execute(delete(Setting).where(Setting.key.like(f"{STATS_KEY}/%")))
            session.merge(Setting(key=STATS_KEY, value=json.dumps({"on": aggregate["on"], "parts": len(parts)})))
            for number, part in enumerate(parts):
                session.add(Setting(key=f"{STATS_KEY}/{number}", value=part))
    except (IntegrityError, OperationalError):
        # Another staff member's view is storing the same moment's figures (on SQLite the loser
        # of two writers is refused with "database is locked"): theirs will do.
        return False
    return True


def load_aggregate(session: Session) -> dict[str, Any] | None:
    head = session.get(Setting, STATS_KEY)
    try:
        count = bounded_json.loads(head.value)["parts"] if head is not None else None
        if not isinstance(count, int) or not 0 < count <= _MAX_PARTS:
            return None
        parts = [session.get(Setting, f"{STATS_KEY}/{n}") for n in range(count)]
        if any(part is None for part in parts):
            return None  # caught half-written by a concurrent refresh; the next view has it
        aggregate = bounded_json.loads("".join(part.value for part in parts if part is not None))
    except (bounded_json.BoundedJSONError, KeyError, TypeError):
        return None  # not what a desk stored: recomputed by the next staff view
    return aggregate if isinstance(aggregate, dict) and isinstance(aggregate.get("tables"), dict) else None


def _aggregate() -> tuple[dict[str, Any] | None, str, int]:
    """(aggregate, "fresh" | "partial" | "stored", cases that did not open)."""
    ring = g.keyring
    if g.user.role in staff_session.STAFF and ring is not None and ring.intake:
        k = min_count()
        with desk().db.session() as session:
            facts, unreadable = gather(session, ring)
        aggregate = statistics.publish(facts, k, today())
        if unreadable:
            return aggregate, "partial", unreadable  # never replaces a complete stored copy
        _save_aggregate(aggregate)
        return aggregate, "fresh", 0
    with desk().db.session() as session:
        return load_aggregate(session), "stored", 0


def _labels() -> dict[str, dict[str, str]]:
    return {
        "act_type": {c.value: c.label for c in QUESTIONS["act_types"].choices},
        "un_link": {c.value: c.label for c in QUESTIONS["un_link"].choices},
    }


@bp.get("/statistics", endpoint="statistics")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_page() -> str:
    aggregate, source, unreadable = _aggregate()
    _record("statistics.export", None, f"page ({source})")
    return render_template(
        "statistics.html",
        aggregate=aggregate,
        source=source,
        unreadable=unreadable,
        labels=_labels(),
        tables=TABLES,
        counted=statistics.COUNTED,
    )


@bp.get("/statistics.csv")
@staff_session.require(Role.ADMIN, Role.CASEWORKER, Role.ANALYST)
def statistics_csv() -> Response:
    aggregate, source, _ = _aggregate()
    if aggregate is None:
        abort(404)
    _record("statistics.export", None, f"csv ({source})")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(statistics.csv_rows(aggregate))
    response = Response(buffer.getvalue(), mimetype="text/csv")
    return _download(response, f"statistics-{aggregate['on']}.csv")
