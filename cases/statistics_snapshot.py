"""The stored public statistics: computed by staff, who hold the intake keys, and kept so that
analysts, who hold none, can read them.

The aggregate is stored in clear on purpose: it holds only suppressed counts ("<k", "k+") over
cases whose reporters allowed publication, and country names shared by at least k cases, exactly
what may be published (cases.statistics).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from . import bounded_json, statistics, statistics_facts
from .clock import today
from .db import Database
from .keyring import Keyring
from .models import PublicStatistics

MAX_CHARS = 1_000_000  # about 1 MB of figures, far beyond any real aggregate

Aggregate = dict[str, Any]  # as statistics.publish returns it


def load(session: Session) -> Aggregate | None:
    """The stored aggregate, or None if there is none (or it is not what a desk stores)."""
    row = session.get(PublicStatistics, 1)
    if row is None or len(row.aggregate) > MAX_CHARS:
        return None
    try:
        aggregate = bounded_json.loads(row.aggregate)
    except bounded_json.BoundedJSONError:
        return None  # recomputed by the next staff view
    return aggregate if isinstance(aggregate, dict) and isinstance(aggregate.get("tables"), dict) else None


def save(db: Database, aggregate: Aggregate) -> bool:
    """Store the aggregate, replacing the last one; False if a concurrent refresh won."""
    with db.session() as session:
        if load(session) == aggregate:
            return True  # most views change nothing: no write, so no lock to wait for
    try:
        with db.session() as session:
            session.merge(
                PublicStatistics(id=1, aggregate=json.dumps(aggregate, ensure_ascii=True, separators=(",", ":")))
            )
    except (IntegrityError, OperationalError):
        # Another staff member's view is storing the same moment's figures (on SQLite the loser
        # of two writers is refused with "database is locked"): theirs will do.
        return False
    return True


@dataclass(frozen=True)
class Figures:
    aggregate: Aggregate | None
    source: Literal["fresh", "partial", "stored"]
    unreadable: int = 0  # cases the viewer's keys did not open (partial figures)


def current(db: Database, ring: Keyring | None, k: int, on: dt.date | None = None) -> Figures:
    """Fresh figures for a viewer whose keys can compute them (``ring``), else the stored ones.

    Figures missing some case are shown to their viewer but never replace a complete copy.
    """
    if ring is None or not ring.intake:
        with db.session() as session:
            return Figures(load(session), "stored")
    with db.session() as session:
        facts, unreadable = statistics_facts.gather(session, ring)
    aggregate = statistics.publish(facts, k, on or today())
    if unreadable:
        return Figures(aggregate, "partial", unreadable)
    save(db, aggregate)
    return Figures(aggregate, "fresh")
