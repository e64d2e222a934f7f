"""``reprisals retention``: closed cases past their time go with every row and blob; nothing else."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cases import audit, reports, retention
from cases.conversation import add_follow_up, change_status, context, reply, seal_follow_up
from cases.intake_keys import current
from cases.models import AuditEvent, Case, Note, SealedIn, Status
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file

from .cli_helpers import assert_one_line_error, run_cli
from .factories import file_case

CHILD_TABLES = ("submissions", "messages", "status_changes", "notes", "attachments")


def _ago(days: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)


def _case(database, blobs, *, status: Status, closed_days_ago: int | None) -> str:
    """A case with rows in every table and two multi-chunk files (one on the report, one on a
    follow-up), moved to ``status`` and closed ``closed_days_ago`` days ago."""
    with database.session() as session:
        key = current(session).public_key
        filed = file_case(session, answers={"what_happened": "x"}, lang=None, sealed_in=SealedIn.SERVER)
        case = session.get_one(Case, filed.case_id)
        case.triage_envelope = seal(key, Purpose.TRIAGE, b'{"v":1}', context(case, "triage"))
        message = add_follow_up(session, case, *seal_follow_up(session, case, "follow-up"))
        reply(session, case, "reply", None)
        session.add(Note(case_id=case.id, created_on=case.received_on, envelope=seal(key, Purpose.NOTE, b"n")))
        for message_id in (None, message.id):
            manifest, chunks = seal_file(key, os.urandom(70_000), "f.bin", "application/octet-stream")
            reports.attach_file(session, blobs, case, manifest, chunks, message_id=message_id)
        change_status(session, case, status, "why")
        if closed_days_ago is not None:
            case.closed_on = _ago(closed_days_ago)
        return case.id


@pytest.fixture
def cases(database, blobs, installed) -> dict[str, str]:
    return {
        "old": _case(database, blobs, status=Status.CLOSED, closed_days_ago=400),
        "recent": _case(database, blobs, status=Status.CLOSED, closed_days_ago=10),
        "open": _case(database, blobs, status=Status.UNDER_REVIEW, closed_days_ago=None),
        # Closed long ago, then reopened: status is what counts.
        "reopened": _case(database, blobs, status=Status.UNDER_REVIEW, closed_days_ago=400),
    }


def _rows(database, case_id: str) -> dict[str, int]:
    counts = {}
    with database.engine.connect() as conn:
        counts["cases"] = conn.execute(text("SELECT count(*) FROM cases WHERE id = :c"), {"c": case_id}).scalar()
        for table in CHILD_TABLES:
            query = text(f"SELECT count(*) FROM {table} WHERE case_id = :c")
            counts[table] = conn.execute(query, {"c": case_id}).scalar()
        chunks = "SELECT count(*) FROM attachment_chunks WHERE attachment_id IN (SELECT id FROM attachments"
        counts["attachment_chunks"] = conn.execute(text(chunks + " WHERE case_id = :c)"), {"c": case_id}).scalar()
    return counts


def _blob_folders(settings, database, case_id: str) -> list[Path]:
    with database.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM attachments WHERE case_id = :c"), {"c": case_id}).scalars().all()
    return [Path(settings.blob_dir) / "att" / i for i in ids]


def _all_blob_files(settings) -> set[Path]:
    return {p for p in Path(settings.blob_dir).rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_dry_run_lists_what_would_go_and_deletes_nothing(env, database, settings, cases) -> None:
    before = {name: _rows(database, case_id) for name, case_id in cases.items()}
    files = _all_blob_files(settings)
    result = run_cli(env, "retention", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would delete case {cases['old']}, closed on {_ago(400)}, 2 file(s)" in result.stdout
    for other in ("recent", "open", "reopened"):
        assert cases[other] not in result.stdout
    assert "nothing was deleted" in result.stdout
    assert {name: _rows(database, case_id) for name, case_id in cases.items()} == before
    assert _all_blob_files(settings) == files
    with database.session() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "case.delete")).all() == []


@pytest.mark.slow
def test_a_real_run_erases_every_row_and_blob_of_expired_cases_only(env, database, settings, cases) -> None:
    old_folders = _blob_folders(settings, database, cases["old"])
    kept_folders = [
        f for name in ("recent", "open", "reopened") for f in _blob_folders(settings, database, cases[name])
    ]
    assert len(old_folders) == 2 and all(f.is_dir() and len(list(f.iterdir())) == 2 for f in old_folders)
    old_ids = [f.name for f in old_folders]
    assert _rows(database, cases["old"])["attachment_chunks"] == 4  # two files of two chunks each
    kept_before = {name: _rows(database, cases[name]) for name in ("recent", "open", "reopened")}

    result = run_cli(env, "retention")
    assert result.returncode == 0, result.stderr
    assert f"deleted case {cases['old']}, closed on {_ago(400)}, 2 file(s)" in result.stdout

    gone = _rows(database, cases["old"])
    assert gone == dict.fromkeys(("cases", *CHILD_TABLES, "attachment_chunks"), 0)
    with database.engine.connect() as conn:
        chunks = text("SELECT count(*) FROM attachment_chunks WHERE attachment_id IN (:a, :b)")
        assert conn.execute(chunks, dict(zip("ab", old_ids, strict=True))).scalar() == 0
    assert not any(f.exists() for f in old_folders)
    assert all(f.is_dir() and len(list(f.iterdir())) == 2 for f in kept_folders)
    assert {name: _rows(database, cases[name]) for name in kept_before} == kept_before
    with database.session() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.delete")).all()
        assert (event.case_id, event.actor_id, event.detail) == (cases["old"], None, "retention")
        assert audit.verify(session) is None

    again = run_cli(env, "retention")
    assert again.returncode == 0 and "0 closed case(s)" in again.stdout


@pytest.mark.slow
def test_the_period_comes_from_the_option_or_the_environment(env, database, cases) -> None:
    result = run_cli({**env, "RRI_RETENTION_DAYS": "5"}, "retention", "--dry-run")
    assert cases["old"] in result.stdout and cases["recent"] in result.stdout
    result = run_cli({**env, "RRI_RETENTION_DAYS": "5"}, "retention", "--days", "500")
    assert result.returncode == 0 and "0 closed case(s) older than 500 days deleted" in result.stdout
    assert_one_line_error(run_cli(env, "retention", "--days", "0"), "--days must be at least 1")
    assert_one_line_error(run_cli({**env, "RRI_RETENTION_DAYS": "a year"}, "retention"), "RRI_RETENTION_DAYS")
    with database.session() as session:
        assert session.get(Case, cases["old"]) is not None


def test_purge_skips_a_case_reopened_after_it_was_listed(database, blobs, cases, monkeypatch) -> None:
    listed = retention.expired

    def list_then_reopen(session, days, on=None):
        found = listed(session, days, on)
        session.get(Case, cases["old"]).status = Status.UNDER_REVIEW  # a caseworker, meanwhile
        return found

    monkeypatch.setattr(retention, "expired", list_then_reopen)
    assert retention.purge(database, blobs, 365) == []
    assert _rows(database, cases["old"])["cases"] == 1
