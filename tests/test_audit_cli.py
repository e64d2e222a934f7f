"""``reprisals verify-audit`` in a subprocess, on a trail tampered with through SQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import text

from cases import audit
from cases.db import Database
from cases.models import AuditEvent

from .cli_helpers import run_cli

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess


def _trail(database) -> Database:
    """Six events, ids 1..6, one transaction each as the apps write them."""
    for number in range(6):
        with database.session() as session:
            audit.record(session, "case.view", actor_id=1, case_id=f"case{number}", detail="")
    return database


def _sql(db: Database, statement: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_untouched_trail_is_intact(env, database) -> None:
    _trail(database)
    result = run_cli(env, "verify-audit")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "audit trail intact: 6 events"
    assert re.search(r"^latest event hash: [0-9a-f]{64}$", result.stdout, re.M)


def test_an_edited_event_is_named(env, database) -> None:
    db = _trail(database)
    _sql(db, "UPDATE audit_events SET detail = 'nothing to see' WHERE id = 3")
    result = run_cli(env, "verify-audit")
    assert result.returncode == 1
    assert result.stderr.strip() == "audit trail BROKEN at event 3"
    assert "intact" not in result.stdout


def test_an_edit_that_recomputes_the_hash_breaks_the_next_link(env, database) -> None:
    db = _trail(database)
    _sql(db, "UPDATE audit_events SET actor_id = 2 WHERE id = 4")
    with db.session() as session:
        row = session.get(AuditEvent, 4)
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)  # SQLite drops the zone
        forged = audit._digest(row.prev_hash, at, 2, row.action, row.case_id, row.detail)
    _sql(db, f"UPDATE audit_events SET hash = '{forged}' WHERE id = 4")
    result = run_cli(env, "verify-audit")
    assert (result.returncode, result.stderr.strip()) == (1, "audit trail BROKEN at event 5")


def test_a_deleted_event_breaks_the_link_after_it(env, database) -> None:
    db = _trail(database)
    _sql(db, "DELETE FROM audit_events WHERE id = 2")
    result = run_cli(env, "verify-audit")
    assert (result.returncode, result.stderr.strip()) == (1, "audit trail BROKEN at event 3")


def test_cutting_off_the_newest_events_changes_the_latest_hash(env, database) -> None:
    """The chain alone cannot show truncation; the printed latest hash, noted elsewhere, can."""
    db = _trail(database)
    before = run_cli(env, "verify-audit").stdout
    _sql(db, "DELETE FROM audit_events WHERE id = 6")
    after = run_cli(env, "verify-audit")
    assert after.returncode == 0 and "intact: 5 events" in after.stdout
    assert before.splitlines()[1] != after.stdout.splitlines()[1]
