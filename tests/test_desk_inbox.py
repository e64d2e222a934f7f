"""The triage inbox and its encrypted index, on a real database with sealed reports."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
from sqlalchemy import select, text, update

from cases import inbox, installation, keyring
from cases import inbox_index as index
from cases.conversation import change_status, context
from cases.intake_keys import current
from cases.models import AuditEvent, Case, Caseworker, Direction, Message, ReportDetails, Role, Status, Submission
from crypto.envelope import Purpose, seal
from crypto.inbox_index import EntryCipher

from .conftest import ADMIN_PASSWORD
from .desk_helpers import logged_in_client, make_desk_app
from .factories import file_case

OTHER_PASSWORD = "another correct horse battery"
COUNTRY_CANARY = "CANARY-Atlantis-q7Z"
ACT_CANARY = "CANARY-act-kX2"
XSS = "<img src=x onerror=alert(1)>"


def _file(database, urgent: bool = False, **answers) -> str:
    """File a case whose sealed report holds ``answers``; returns its id."""
    return file_case(database, answers={"what_happened": "x", **answers}, urgent=urgent).case_id


def _set(database, case_id: str, **values) -> None:
    with database.session() as session:
        session.execute(update(Case).where(Case.id == case_id).values(**values))


def _ago(days: int) -> dt.date:
    return dt.date.today() - dt.timedelta(days=days)


def _ids(html: str) -> list[str]:
    """Case ids in the order the inbox lists them."""
    return re.findall(r'<td><a href="[^"]*">([a-z2-7]+)</a></td>', html)


def _page(desk_client, **args) -> str:
    response = desk_client.get("/", query_string=args)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _ring(database, username: str = "admin", password: str = ADMIN_PASSWORD) -> keyring.Keyring:
    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
        return keyring.unlock(session, worker, password)


def _add_worker(database, settings, username: str, role: Role = Role.CASEWORKER, grant: bool = True) -> int:
    ring = _ring(database)
    with database.session() as session:
        worker = installation.create_caseworker(session, username, OTHER_PASSWORD, role, settings.argon2)
        if grant:
            keyring.grant(session, ring, worker)
        return worker.id


def _seal_triage(database, case_id: str, triage: dict) -> None:
    with database.session() as session:
        case = session.get_one(Case, case_id)
        body = json.dumps({"v": 1, **triage}).encode()
        case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context(case, "triage"))


# -- ordering -------------------------------------------------------------------------------------


def test_order_urgent_then_detained_or_missing_then_oldest_unacknowledged(desk_client, database) -> None:
    recent_activity = _file(database)
    old_activity = _file(database)
    new_unack = _file(database)
    old_unack = _file(database)
    missing = _file(database, situation="missing")
    detained = _file(database, situation="detained")
    urgent = _file(database, urgent=True)
    closed_urgent = _file(database, urgent=True, situation="detained")
    _set(database, recent_activity, acknowledged_on=_ago(20), updated_on=_ago(1))
    _set(database, old_activity, acknowledged_on=_ago(20), updated_on=_ago(10))
    _set(database, new_unack, received_on=_ago(2), updated_on=_ago(2))
    _set(database, old_unack, received_on=_ago(5), updated_on=_ago(5))
    _set(database, missing, received_on=_ago(3))
    _set(database, detained, received_on=_ago(4))
    _set(database, urgent, received_on=_ago(1))
    _set(database, closed_urgent, status=Status.CLOSED, acknowledged_on=_ago(40), updated_on=_ago(40))

    order = _ids(_page(desk_client))
    assert order == [urgent, detained, missing, old_unack, new_unack, recent_activity, old_activity, closed_urgent]


def test_detained_and_missing_shown_prominently(desk_client, database) -> None:
    _file(database, situation="detained")
    _file(database, situation="hiding")
    html = _page(desk_client)
    assert '<span class="urgent">Detained</span>' in html
    assert "In hiding" in html and '<span class="urgent">In hiding' not in html


# -- filters and counts ---------------------------------------------------------------------------


def test_each_filter(desk_app, desk_client, database, settings, installed) -> None:
    other = _add_worker(database, settings, "bob")
    a = _file(database, urgent=True, country="KE", act_types=["threats"], un_link=["upr"])
    # Sealed before the list: free text, read as the code it names.
    b = _file(database, country=" kenya ", act_types=["travel_ban", "threats"], un_link=["hrc"])
    c = _file(database, country="other", country_other="Elsewhere", act_types=["surveillance"], un_link=["upr", "hrc"])
    _set(database, a, assigned_to=installed.admin_id)
    _set(database, b, assigned_to=other)
    with database.session() as session:
        change_status(session, session.get_one(Case, c), Status.UNDER_REVIEW)
        session.add(Message(case_id=b, direction=Direction.FROM_REPORTER, sent_on=_ago(0), team_envelope=b"x"))

    def ids(**args) -> set[str]:
        return set(_ids(_page(desk_client, **args)))

    assert ids() == {a, b, c}
    assert ids(status="under_review") == {c}
    assert ids(status="received") == {a, b}
    assert ids(urgent="yes") == {a}
    assert ids(urgent="no") == {b, c}
    assert ids(act="threats") == {a, b}
    assert ids(country="KE") == {a, b}  # one country, whatever the spelling
    assert ids(country="UG") == set()
    assert ids(country="other") == {c}  # places written out
    assert ids(un="hrc") == {b, c}
    assert ids(assignee="me") == {a}
    assert ids(assignee="nobody") == {c}
    assert ids(assignee=str(other)) == {b}
    assert ids(unread="yes") == {b}
    assert ids(act="threats", un="upr", country="KE", urgent="yes", assignee="me") == {a}
    assert ids(act="threats", un="hrc", assignee="me") == set()
    bad_filters = ({"status": "nope"}, {"urgent": "maybe"}, {"assignee": "x1"}, {"unread": "1"}, {"country": "Kenya"})
    for bad in bad_filters:
        assert desk_client.get("/", query_string=bad).status_code == 400


def test_counts_cover_every_matching_case_and_status(desk_client, database, monkeypatch) -> None:
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    cases = [_file(database, urgent=n == 0, situation="missing" if n == 1 else "free") for n in range(5)]
    with database.session() as session:
        change_status(session, session.get_one(Case, cases[2]), Status.NEED_INFO)
    _set(database, cases[3], received_on=_ago(30), updated_on=_ago(30))
    html = _page(desk_client)
    for expected in (
        "5 cases",
        "1 urgent (not closed)",
        "1 detained or missing (not closed)",
        "4 not acknowledged",
        "1 stale",
    ):
        assert expected in html
    assert "Received: 4" in html and "More information needed: 1" in html
    assert len(_ids(html)) == 2  # paginated rows, counts over all
    filtered = _page(desk_client, status="need_info")
    assert "1 matching case<" in filtered and "Received: 4" in filtered  # per-status counts ignore the status filter


def test_pagination_keeps_filters_and_sorting_spans_pages(desk_client, database, monkeypatch) -> None:
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    plain = [_file(database, country="UG") for _ in range(3)]
    urgent = _file(database, urgent=True, country="Uganda")
    _file(database, country="KE")
    first = _page(desk_client, country="UG")
    assert _ids(first)[0] == urgent
    assert "Page 1 of 2" in first and "country=UG" in first and "page=2" in first
    second = _ids(_page(desk_client, country="UG", page=2))
    assert len(second) == 2 and set(_ids(first)) | set(second) == {urgent, *plain}
    assert _ids(_page(desk_client, country="UG", page=99)) == second  # clamped to the last page


# -- stale markers and unread counts --------------------------------------------------------------


def test_stale_markers(desk_client, settings, database) -> None:
    fresh = _file(database)
    late_ack = _file(database)
    idle = _file(database)
    idle_closed = _file(database)
    _set(database, fresh, received_on=_ago(7), updated_on=_ago(7))  # within the 7 days
    _set(database, late_ack, received_on=_ago(8), updated_on=_ago(8))
    _set(database, idle, acknowledged_on=_ago(40), received_on=_ago(40), updated_on=_ago(31))
    _set(database, idle_closed, status=Status.CLOSED, acknowledged_on=_ago(90), updated_on=_ago(90))

    def row(html: str, case_id: str) -> str:
        return re.search(r"<tr[^>]*>\s*<td><a [^>]*>" + case_id + r"</a>.*?</tr>", html, re.S).group(0)

    html = _page(desk_client)
    assert 'class="stale"' not in row(html, fresh)
    assert 'class="stale"' in row(html, late_ack) and "not acknowledged in time" in row(html, late_ack)
    assert 'class="stale"' in row(html, idle) and "no activity" in row(html, idle)
    assert 'class="stale"' not in row(html, idle_closed)

    stricter = dataclasses.replace(settings, stale_ack_days=3, stale_idle_days=100)
    html = _page(logged_in_client(make_desk_app(stricter, database), database))
    assert "not acknowledged in time" in row(html, fresh)
    assert "no activity" not in row(html, idle)


def test_unread_reporter_messages_are_counted(desk_client, database) -> None:
    case_id = _file(database)
    quiet = _file(database)
    with database.session() as session:
        for direction, read_on in (
            (Direction.FROM_REPORTER, None),
            (Direction.FROM_REPORTER, None),
            (Direction.FROM_REPORTER, _ago(0)),  # already read
            (Direction.TO_REPORTER, None),  # our own reply
        ):
            session.add(
                Message(case_id=case_id, direction=direction, sent_on=_ago(0), team_envelope=b"x", read_on=read_on)
            )
        # Details the reporter added later count as something new from them too, until opened.
        key_id = session.scalars(select(Submission.intake_key_id).where(Submission.case_id == case_id)).one()
        session.add(ReportDetails(case_id=case_id, received_on=_ago(0), intake_key_id=key_id, envelope=b"x"))
        session.add(
            ReportDetails(case_id=case_id, received_on=_ago(1), intake_key_id=key_id, envelope=b"x", read_on=_ago(0))
        )
    html = _page(desk_client)
    assert re.search(case_id + r'</a>.*?<span class="badge">3</span>', html, re.S)
    assert not re.search(quiet + r'</a></td>(?:(?!</tr>).)*<span class="badge">\d', html, re.S)
    assert desk_client.get(f"/cases/{case_id}").status_code == 200  # a caseworker opens it
    assert not re.search(case_id + r'</a></td>(?:(?!</tr>).)*<span class="badge">\d', _page(desk_client), re.S)


# -- the index is encrypted -----------------------------------------------------------------------


def test_index_is_encrypted_and_built_on_first_view(desk_client, database) -> None:
    case_id = _file(database, country=COUNTRY_CANARY, act_types=[ACT_CANARY])
    with database.session() as session:
        assert session.get_one(Case, case_id).index_blob is None
    html = _page(desk_client)
    assert COUNTRY_CANARY in html and ACT_CANARY in html
    with database.session() as session:
        blob = session.get_one(Case, case_id).index_blob
        assert blob is not None and len(blob) > 28
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "inbox.view")).all()
        assert [e.detail for e in events] == ["page=1 filters=- built=1"] and events[0].case_id is None
    _page(desk_client)  # second view: nothing to build
    with database.session() as session:
        details = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "inbox.view")).all()
        assert details[-1] == "page=1 filters=- built=0"
    with database.engine.connect() as conn:
        for row in conn.execute(text("SELECT * FROM cases")):
            cell = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
            assert COUNTRY_CANARY.encode() not in cell and ACT_CANARY.encode() not in cell
        for row in conn.execute(text("SELECT detail FROM audit_events")):
            assert COUNTRY_CANARY not in row[0]


def test_entry_is_bound_to_its_case(database, installed) -> None:
    first = _file(database, country="First")
    second = _file(database, country="Second")
    ring = _ring(database)
    with database.session() as session:
        cases = session.scalars(select(Case)).all()
        index.read(session, ring, cases)
    with database.session() as session:
        a, b = session.get_one(Case, first), session.get_one(Case, second)
        key = index.index_key(session, ring)
        assert index.open_entry(EntryCipher(key), second, a.index_blob) is None  # copied onto another case
        b.index_blob = a.index_blob
    with database.session() as session:
        entries = index.read(session, ring, session.scalars(select(Case)).all())
        assert entries[second]["country"] == "Second"  # the misplaced blob was rebuilt


def test_triage_overrides_the_report_and_a_changed_triage_is_reindexed(desk_client, database) -> None:
    case_id = _file(database, country="Reported", act_types=["threats"], un_link=["upr"], consent_act="yes")
    _page(desk_client)
    _seal_triage(
        database, case_id, {"verification": "credible", "country": "Triaged", "act_types": [], "un_link": ["hrc"]}
    )
    html = _page(desk_client)
    assert "Triaged" in html and "Reported" not in html
    ring = _ring(database)
    with database.session() as session:
        case = session.get_one(Case, case_id)
        entry = index.read(session, ring, [case])[case_id]
        assert entry["verification"] == "credible" and entry["un_link"] == ["hrc"]
        assert entry["act_types"] == ["threats"]  # an empty triage field keeps the reporter's answer
        assert entry["consent_act"] == "yes"
        assert index.rebuild(session, ring, case) == entry


def test_reporter_written_country_is_escaped(desk_client, database) -> None:
    _file(database, country=XSS, act_types=[XSS], situation=XSS, un_link=[XSS])
    html = _page(desk_client)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# -- one key for everyone, across rotations -------------------------------------------------------


def test_a_granted_caseworker_derives_the_same_index_key(desk_app, database, settings) -> None:
    case_id = _file(database, country="Shared")
    _add_worker(database, settings, "bob")
    admin_ring, bob_ring = _ring(database), _ring(database, "bob", OTHER_PASSWORD)
    with database.session() as session:
        assert index.index_key(session, admin_ring) == index.index_key(session, bob_ring)
    assert _ids(_page(logged_in_client(desk_app, database))) == [case_id]  # the admin builds the index
    with database.session() as session:
        blob = session.get_one(Case, case_id).index_blob
    bob = logged_in_client(desk_app, database, "bob", OTHER_PASSWORD)
    assert "Shared" in _page(bob)
    with database.session() as session:
        assert session.get_one(Case, case_id).index_blob == blob  # read, not rebuilt


def test_rotation_does_not_change_the_index_key(desk_client, database) -> None:
    old_case = _file(database, country="Before")
    _page(desk_client)
    before = _ring(database)
    with database.session() as session:
        key_before = index.index_key(session, before)
        for _ in range(5):  # same-day keys: random ids must not decide which one is the first
            installation.rotate_intake_key(session)
    new_case = _file(database, country="After")
    after = _ring(database)
    assert len(after.intake) == 6
    with database.session() as session:
        assert index.index_key(session, after) == key_before
        entries, built = index.read_counted(session, after, session.scalars(select(Case)).all())
        assert built == 1 and entries[old_case]["country"] == "Before" and entries[new_case]["country"] == "After"


def test_a_ring_without_the_first_key_never_overwrites_the_index(database, installed) -> None:
    case_id = _file(database, country="Kept")
    admin_ring = _ring(database)
    with database.session() as session:
        index.read(session, admin_ring, session.scalars(select(Case)).all())
        blob = session.get_one(Case, case_id).index_blob
        newest = installation.rotate_intake_key(session).id
    # Someone holding only the newest key (not how grants work, but it must not corrupt the index).
    full = _ring(database)
    partial = keyring.Keyring(owner=full.owner, intake={k: v for k, v in full.intake.items() if k.hex() == newest})
    with database.session() as session:
        with pytest.raises(index.IndexUnavailable):
            index.index_key(session, partial)
        entry = index.read(session, partial, session.scalars(select(Case)).all())[case_id]
        assert entry.get("unreadable") is True
        assert session.get_one(Case, case_id).index_blob == blob


def test_a_report_the_ring_cannot_open_is_not_indexed(database, installed) -> None:
    full = _ring(database)
    with database.session() as session:
        first = current(session).id
        installation.rotate_intake_key(session)
    case_id = _file(database, country="Sealed to the new key")
    old_only = keyring.Keyring(owner=full.owner, intake={k: v for k, v in full.intake.items() if k.hex() == first})
    with database.session() as session:
        entry = index.read(session, old_only, session.scalars(select(Case)).all())[case_id]
        assert entry.get("unreadable") is True and entry["country"] == ""
        assert session.get_one(Case, case_id).index_blob is None  # left for someone who can open it


# -- access ---------------------------------------------------------------------------------------


def test_analyst_gets_403_and_it_is_audited(desk_app, database, settings) -> None:
    _file(database, country="Hidden")
    analyst = _add_worker(database, settings, "ana", Role.ANALYST, grant=False)
    response = logged_in_client(desk_app, database, "ana", OTHER_PASSWORD).get("/")
    assert response.status_code == 403 and b"Hidden" not in response.data
    with database.session() as session:
        denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
        assert [e.actor_id for e in denied] == [analyst]
        assert not session.scalars(select(AuditEvent).where(AuditEvent.action == "inbox.view")).all()


def test_logged_out_is_sent_to_login(desk_app) -> None:
    response = desk_app.test_client().get("/")
    assert response.status_code == 302 and "next=/" in response.headers["Location"]
