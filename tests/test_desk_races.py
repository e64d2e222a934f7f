"""Two caseworkers on one case: every desk write that reads before it writes, raced from threads.

Each race starts its requests together on a barrier, through separate logged-in clients of one
threaded app, on the same case (or the same account, for the admin routes). Afterwards: no 5xx,
nothing lost (both referrals, both timeline steps, both replies and notes), the stored state
agrees with the last audit event about it, the audit chain holds and the inbox entry opens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from cases import audit, conversation, installation, keyring, triage
from cases import inbox_index as index
from cases.config import Settings
from cases.db import Database
from cases.models import AuditEvent, Case, Caseworker, Message, Note, Role, StatusChange, WrappedKey
from crypto.envelope import Purpose, open_envelope
from crypto.inbox_index import EntryCipher

from .conftest import ADMIN_PASSWORD, Installed
from .desk_helpers import csrf_of, logged_in_client
from .factories import file_case
from .test_desk_case import PASSWORD, add_worker

ROUNDS = 6  # each race is run a few times: which request writes first is up to the scheduler
AUDIT_DELAY = 0.05  # seconds: widens the window between a view's writes and its audit event


@pytest.fixture(autouse=True)
def slow_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every audit append waits a moment first, so racing requests overlap on every run rather
    than on a lucky one: each has read (and maybe written) the row before the other commits."""
    record = audit.record

    def slowly(*args: Any, **kwargs: Any) -> AuditEvent:
        time.sleep(AUDIT_DELAY)
        return record(*args, **kwargs)

    monkeypatch.setattr(audit, "record", slowly)


class Desk:
    """The app, two staff clients (admin and bob) with their CSRF values, and one filed case
    (none for the admin routes)."""

    def __init__(self, app: Flask, database: Database, case_id: str = "") -> None:
        self.app, self.database, self.case_id = app, database, case_id
        self.clients = [logged_in_client(app, database), logged_in_client(app, database, "bob", PASSWORD)]
        page = f"/cases/{case_id}" if case_id else "/admin/people"
        self.csrf = [csrf_of(client, app, page) for client in self.clients]

    def race(self, act: Callable[[int], TestResponse]) -> list[TestResponse]:
        """``act(i)`` for each client index at once; every answer is a redirect or a page."""
        return race(len(self.clients), act)

    def post(self, i: int, path: str, data: dict[str, str] | None = None) -> TestResponse:
        body = {"csrf": self.csrf[i], **(data or {})}
        return self.clients[i].post(f"/cases/{self.case_id}{path}", data=body)


def race(count: int, act: Callable[[int], TestResponse]) -> list[TestResponse]:
    barrier = threading.Barrier(count)
    answers: list[TestResponse | BaseException | None] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            answers[i] = act(i)
        except BaseException as exc:  # reported below, with the others' answers
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    failed = [a for a in answers if not isinstance(a, TestResponse) or a.status_code >= 500]
    assert not failed, [a if not isinstance(a, TestResponse) else a.get_data(as_text=True)[:500] for a in failed]
    return [a for a in answers if isinstance(a, TestResponse)]


def expect(answers: Sequence[TestResponse], code: int) -> None:
    assert [a.status_code for a in answers] == [code] * len(answers), [a.get_data(as_text=True)[:300] for a in answers]


@pytest.fixture
def desk(desk_app: Flask, settings: Settings, database: Database) -> Desk:
    add_worker(database, "bob", Role.CASEWORKER)
    answers = {"consent_act": "yes", "consent_authorities": "yes", "country": "Freedonia"}
    return Desk(desk_app, database, file_case(database, answers=answers, settings=settings).case_id)


def _ring(database: Database) -> keyring.Keyring:
    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        assert admin is not None
        return keyring.unlock(session, admin, ADMIN_PASSWORD)


def _last(database: Database, action: str, case_id: str | None = None) -> str:
    """The detail of the latest audit event of that action."""
    with database.session() as session:
        query = select(AuditEvent.detail).where(AuditEvent.action == action)
        if case_id is not None:
            query = query.where(AuditEvent.case_id == case_id)
        detail = session.scalar(query.order_by(AuditEvent.id.desc()).limit(1))
    assert detail is not None, f"no {action} event"
    return detail


def check(desk: Desk) -> dict[str, Any]:
    """The audit chain holds, the inbox entry opens and matches the triage; returns the triage."""
    ring = _ring(desk.database)
    with desk.database.session() as session:
        assert audit.verify(session) is None, "the audit chain forked"
        case = session.get(Case, desk.case_id)
        assert case is not None
        stored = triage.load(ring.private_keys(), case).document()
        if case.index_blob is not None:
            entry = index.open_entry(EntryCipher(index.index_key(session, ring)), case.id, case.index_blob)
            assert entry is not None, "the inbox entry does not open"
            assert entry.get("t", "") == index.triage_mark(case.triage_envelope), "inbox entry from an older triage"
    return stored


# --- triage and referrals ------------------------------------------------------------------------


def test_triage_update_racing_referral_add_keeps_both(desk: Desk) -> None:
    for n in range(ROUNDS):

        def act(i: int, n: int = n) -> TestResponse:
            if i == 0:
                return desk.post(
                    0, "/triage", {"verification": "credible", "country": "other", "country_other": f"Country {n}"}
                )
            return desk.post(1, "/referrals", {"to": f"Rapporteur {n}", "on": "2026-01-02"})

        expect(desk.race(act), 303)
        stored = check(desk)
        assert stored["country"] == f"Country {n}"
        assert [r["to"] for r in stored["referrals"]] == [f"Rapporteur {k}" for k in range(n + 1)]


def test_two_referral_adds_make_two_referrals(desk: Desk) -> None:
    for n in range(ROUNDS):
        expect(desk.race(lambda i, n=n: desk.post(i, "/referrals", {"to": f"R{n}-{i}", "on": "2026-01-02"})), 303)
        stored = check(desk)
        assert sorted(r["to"] for r in stored["referrals"][2 * n :]) == [f"R{n}-0", f"R{n}-1"]
    assert len(stored["referrals"]) == 2 * ROUNDS


def test_two_referral_updates_keep_both_outcomes(desk: Desk) -> None:
    for i in range(2):
        assert desk.post(0, "/referrals", {"to": f"Body {i}", "on": "2026-01-02"}).status_code == 303
    for n in range(ROUNDS):
        expect(desk.race(lambda i, n=n: desk.post(i, f"/referrals/{i}", {"outcome": f"outcome {n}-{i}"})), 303)
        stored = check(desk)
        assert [r["outcome"] for r in stored["referrals"]] == [f"outcome {n}-0", f"outcome {n}-1"]


def test_two_triage_updates_leave_one_whole_triage(desk: Desk) -> None:
    assert desk.post(0, "/referrals", {"to": "Kept", "on": "2026-01-02"}).status_code == 303
    for n in range(ROUNDS):
        countries = [f"Left {n}", f"Right {n}"]
        data = [{"country": "other", "country_other": c, "urgent": "1" if i else ""} for i, c in enumerate(countries)]
        expect(desk.race(lambda i, data=data: desk.post(i, "/triage", data[i])), 303)
        stored = check(desk)
        assert stored["country"] in countries
        assert [r["to"] for r in stored["referrals"]] == ["Kept"]
        with desk.database.session() as session:
            case = session.get(Case, desk.case_id)
            assert case is not None
            assert case.urgent == (stored["country"] == countries[1])  # urgency and triage from one request


# --- assignment, status, replies, notes ----------------------------------------------------------


def test_racing_assignments_end_as_the_last_audited(desk: Desk) -> None:
    with desk.database.session() as session:
        ids = [w.id for w in session.scalars(select(Caseworker).order_by(Caseworker.id))]
    for _ in range(ROUNDS):
        # One of the two requests writes the value already stored (no UPDATE without a lock).
        expect(desk.race(lambda i: desk.post(i, "/assign", {"to": str(ids[i])})), 303)
        check(desk)
        with desk.database.session() as session:
            assigned = session.scalar(select(Case.assigned_to).where(Case.id == desk.case_id))
        assert _last(desk.database, "case.assign", desk.case_id) == f"to={assigned}"


def test_racing_status_changes_keep_both_steps_and_the_last(desk: Desk) -> None:
    with desk.database.session() as session:
        before = len(list(session.scalars(select(StatusChange.id).where(StatusChange.case_id == desk.case_id))))
    for n in range(ROUNDS):
        # One request repeats the current stage: both steps must land, the case ends at the last.
        stages = ["received", "under_review"] if n % 2 == 0 else ["need_info", "received"]
        expect(desk.race(lambda i, s=stages: desk.post(i, "/status", {"status": s[i], "explanation": s[i]})), 303)
        check(desk)
        keys = _ring(desk.database).private_keys()
        with desk.database.session() as session:
            case = session.get(Case, desk.case_id)
            assert case is not None
            steps = list(session.scalars(select(StatusChange).where(StatusChange.case_id == case.id)))
        assert len(steps) == before + 2 * (n + 1)
        last = max(steps, key=lambda s: s.id)
        assert case.status == last.status
        assert _last(desk.database, "status.change", case.id).startswith(f"status={last.status.value} ")
        ctx = conversation.context(case, "status")
        for step in steps[-2:]:
            assert step.team_envelope is not None
            assert open_envelope(keys, Purpose.REPLY, step.team_envelope, context=ctx).decode() == step.status.value


def test_racing_replies_and_notes_all_land(desk: Desk) -> None:
    for n in range(ROUNDS):
        expect(desk.race(lambda i, n=n: desk.post(i, "/reply", {"text": f"reply {n}-{i}"})), 303)
        expect(desk.race(lambda i, n=n: desk.post(i, "/notes", {"text": f"note {n}-{i}"})), 303)
        check(desk)
    keys = _ring(desk.database).private_keys()
    with desk.database.session() as session:
        case = session.get(Case, desk.case_id)
        assert case is not None
        ctx = conversation.context(case)
        replies = session.scalars(select(Message.team_envelope).where(Message.case_id == case.id))
        notes = session.scalars(select(Note.envelope).where(Note.case_id == case.id))
        opened = {open_envelope(keys, Purpose.REPLY, e, context=ctx).decode() for e in replies}
        note_ctx = conversation.context(case, "note")
        noted = {open_envelope(keys, Purpose.NOTE, e, context=note_ctx).decode() for e in notes}
    assert opened == {f"reply {n}-{i}" for n in range(ROUNDS) for i in range(2)}
    assert noted == {f"note {n}-{i}" for n in range(ROUNDS) for i in range(2)}


# --- admin: one account, two admins ---------------------------------------------------------------


@pytest.fixture
def admins(desk_app: Flask, database: Database) -> tuple[Desk, int]:
    """Two admin clients (admin and bob) and a caseworker account carol, not yet granted keys."""
    add_worker(database, "bob", Role.ADMIN)
    carol = add_worker(database, "carol", Role.CASEWORKER, grant=False)
    return Desk(desk_app, database), carol


def _admin_post(desk: Desk, i: int, path: str) -> TestResponse:
    return desk.clients[i].post(f"/admin/people/{path}", data={"csrf": desk.csrf[i]})


def test_two_grants_at_once_wrap_each_key_once(admins: tuple[Desk, int]) -> None:
    desk, _ = admins
    for n in range(ROUNDS):
        fresh = add_worker(desk.database, f"dan{n}", Role.CASEWORKER, grant=False)
        expect(desk.race(lambda i, fresh=fresh: _admin_post(desk, i, f"{fresh}/grant")), 200)
        check_chain(desk.database)
        with desk.database.session() as session:
            held = list(session.scalars(select(WrappedKey.intake_key_id).where(WrappedKey.caseworker_id == fresh)))
        assert len(held) == len(set(held)) == 1


def test_disable_racing_enable_ends_as_the_last_audited(admins: tuple[Desk, int]) -> None:
    desk, carol = admins
    for n in range(ROUNDS):
        # Alternate who disables, so either order of arrival is tried.
        actions = ["disable", "enable"] if n % 2 == 0 else ["enable", "disable"]
        expect(desk.race(lambda i, a=actions: _admin_post(desk, i, f"{carol}/{a[i]}")), 200)
        check_chain(desk.database)
        with desk.database.session() as session:
            last = session.scalar(
                select(AuditEvent.action)
                .where(AuditEvent.action.in_(["caseworker.disable", "caseworker.enable"]))
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            worker = session.get(Caseworker, carol)
            assert worker is not None
            assert worker.disabled == (last == "caseworker.disable")


def test_two_authenticator_resets_at_once(admins: tuple[Desk, int]) -> None:
    desk, carol = admins
    expect(desk.race(lambda i: _admin_post(desk, i, f"{carol}/reset-authenticator")), 200)
    check_chain(desk.database)
    with desk.database.session() as session:
        worker = session.get(Caseworker, carol)
        assert worker is not None and worker.totp_secret is None


def check_chain(database: Database) -> None:
    with database.session() as session:
        assert audit.verify(session) is None, "the audit chain forked"


def test_one_name_added_twice_at_once_is_one_account_and_a_plain_refusal(
    database: Database, settings: Settings, installed: Installed
) -> None:
    """The second insert waits on the first's uncommitted row, then fails on the unique name:
    that is "the name is taken", not a 500 (found by bench/fuzz.py on PostgreSQL)."""
    flushed, outcome = threading.Event(), {}

    def first() -> None:
        with database.session() as session:
            installation.create_caseworker(session, "twin", PASSWORD, Role.CASEWORKER, settings.argon2)
            flushed.set()
            time.sleep(0.5)  # the second one is waiting on this row now

    def second() -> None:
        flushed.wait()
        try:
            with database.session() as session:
                installation.create_caseworker(session, "twin", PASSWORD, Role.CASEWORKER, settings.argon2)
        except installation.UserExists:
            outcome["second"] = "refused"

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome == {"second": "refused"}
    with database.session() as session:
        assert len(session.scalars(select(Caseworker).where(Caseworker.username == "twin")).all()) == 1
