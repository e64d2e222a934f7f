"""People and keys: only admins; adding accounts, granting intake keys, disabling (with rotation),
re-enabling, resetting a lost authenticator. Every change is audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from cases import audit, installation, keyring, totp
from cases.intake_keys import current
from cases.models import Caseworker, Role, StaffSession, WrappedKey
from crypto.errors import BadPassword
from crypto.keys import key_id

from .conftest import ADMIN_PASSWORD
from .desk_helpers import csrf_of, logged_in_client
from .test_desk_auth import code_for, enrol, events, post_login, session_cookie, worker_named

BOB_PASSWORD = "bob's own long password"


def _add(client, desk_app, username: str, role: str = "caseworker", password: str = "", grant: bool = True):
    data = {
        "csrf": csrf_of(client, desk_app, "/admin/people"),
        "username": username,
        "role": role,
        "password": password,
    }
    if grant:
        data["grant"] = "1"
    return client.post("/admin/people/add", data=data)


def _post(client, desk_app, path: str):
    return client.post(path, data={"csrf": csrf_of(client, desk_app, "/admin/people")})


def _held_by(database, recipient_key_id: str) -> set[str]:
    with database.session() as session:
        wraps = select(WrappedKey.intake_key_id).where(WrappedKey.recipient_key_id == recipient_key_id)
        return set(session.scalars(wraps))


def _held(database, username: str) -> set[str]:
    return _held_by(database, worker_named(database, username).key_id)


def _audit_holds(database) -> None:
    with database.session() as session:
        assert audit.verify(session) is None


# --- who may come in ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ANALYST, Role.CASEWORKER])
def test_only_admins_reach_people_and_keys(desk_app, database, settings, role) -> None:
    with database.session() as session:
        installation.create_caseworker(session, "someone", "a long enough password", role, settings.argon2)
    client = logged_in_client(desk_app, database, "someone", "a long enough password")
    csrf = csrf_of(client, desk_app, "/account")
    assert client.get("/admin/people").status_code == 403
    for path in ("/admin/people/add", "/admin/people/1/grant", "/admin/people/1/disable", "/admin/intake-key/rotate"):
        assert client.post(path, data={"csrf": csrf, "username": "x", "role": "admin"}).status_code == 403, path
    denied = events(database, "access.denied")
    assert len(denied) == 5 and denied[0].detail == "/admin/people"
    with database.session() as session:
        assert session.scalar(select(Caseworker).where(Caseworker.username == "x")) is None
        assert len(session.scalars(select(WrappedKey)).all()) == 2, "nothing granted, nothing rotated"
    assert desk_app.test_client().get("/admin/people").status_code == 302, "logged out: to the login page"


def test_the_page_lists_accounts_and_keys(desk_client, desk_app, database) -> None:
    page = desk_client.get("/admin/people").get_data(as_text=True)
    with database.session() as session:
        key = current(session)
    assert "admin" in page and key.id in page and "1 of 1 (current)" in page


# --- adding and granting ------------------------------------------------------------------------


def test_admin_adds_a_caseworker_who_can_then_unlock_the_intake_keys(desk_client, desk_app, database, clock) -> None:
    response = _add(desk_client, desk_app, "bob")
    assert response.status_code == 200
    shown = re.search(r'<code id="initial-password">([^<]+)</code>', response.get_data(as_text=True))
    assert shown, "a generated password is shown once"
    password = shown.group(1)
    assert len(password) >= 20
    assert "initial-password" not in desk_client.get("/admin/people").get_data(as_text=True), "and only once"

    with database.session() as session:
        bob = session.scalar(select(Caseworker).where(Caseworker.username == "bob"))
        assert bob.role == Role.CASEWORKER and bob.totp_secret is None
        ring = keyring.unlock(session, bob, password)
        admin_worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        assert set(ring.intake) == set(keyring.unlock(session, admin_worker, ADMIN_PASSWORD).intake)
        assert ring.intake
    with database.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM caseworkers")).all()) + repr(
            conn.execute(text("SELECT * FROM audit_events")).all()
        )
    assert password not in dump, "the initial password is stored only as a hash and a locked key"
    assert [e.detail for e in events(database, "caseworker.add")] == ["bob as caseworker"]
    assert [e.detail for e in events(database, "key.grant")] == ["bob: 1 intake keys"]

    # Bob's first login: enrol through the pages, then log in with a code.
    bob_client = desk_app.test_client()
    secret = enrol(bob_client, "bob", password)
    assert bob_client.get("/account").status_code == 200
    clock.advance()
    assert session_cookie(post_login(desk_app.test_client(), "bob", password, code_for(secret, clock)))
    _audit_holds(database)


def test_grant_later_and_never_to_analysts(desk_client, desk_app, database) -> None:
    assert _add(desk_client, desk_app, "bob", password=BOB_PASSWORD, grant=False).status_code == 200
    assert _add(desk_client, desk_app, "ana", role="analyst", password="analyst long password").status_code == 200
    assert _held(database, "bob") == set() and _held(database, "ana") == set(), "analysts get no keys on add"
    bob_session = logged_in_client(desk_app, database, "bob", BOB_PASSWORD)
    bob_sid = _sid_of(database, "bob")
    assert desk_app.extensions["rri.desk"].vault.get(bob_sid).intake == {}

    bob, ana = worker_named(database, "bob"), worker_named(database, "ana")
    assert _post(desk_client, desk_app, f"/admin/people/{bob.id}/grant").status_code == 200
    with database.session() as session:
        worker = session.get(Caseworker, bob.id)
        assert keyring.unlock(session, worker, BOB_PASSWORD).intake
    assert desk_app.extensions["rri.desk"].vault.get(bob_sid).intake, "bob's open session got the keys at once"
    assert bob_session.get("/account").status_code == 200
    again = _post(desk_client, desk_app, f"/admin/people/{bob.id}/grant")
    assert "Gave bob 0 intake keys" in again.get_data(as_text=True)

    refused = _post(desk_client, desk_app, f"/admin/people/{ana.id}/grant")
    assert refused.status_code == 400 and "never hold intake keys" in refused.get_data(as_text=True)
    assert _held(database, "ana") == set()
    assert _post(desk_client, desk_app, "/admin/people/9999/grant").status_code == 404
    assert [e.detail for e in events(database, "key.grant")] == ["bob: 1 intake keys", "bob: 0 intake keys"]


def _sid_of(database, username: str) -> str:
    worker = worker_named(database, username)
    with database.session() as session:
        return session.scalars(select(StaffSession.id).where(StaffSession.caseworker_id == worker.id)).one()


def test_bad_additions_are_refused(desk_client, desk_app, database) -> None:
    short = _add(desk_client, desk_app, "bob", password="short")
    assert short.status_code == 400 and "too short" in short.get_data(as_text=True)
    assert _add(desk_client, desk_app, "admin", password=BOB_PASSWORD).status_code == 400
    assert _add(desk_client, desk_app, "", password=BOB_PASSWORD).status_code == 400
    assert _add(desk_client, desk_app, "carol", role="superuser", password=BOB_PASSWORD).status_code == 400
    hostile = _add(desk_client, desk_app, "<b>x</b>", password=BOB_PASSWORD)
    assert hostile.status_code == 200
    assert "<b>x</b>" not in hostile.get_data(as_text=True) and "&lt;b&gt;x&lt;/b&gt;" in hostile.get_data(as_text=True)
    with database.session() as session:
        names = set(session.scalars(select(Caseworker.username)))
    assert names == {"admin", "<b>x</b>"}


# --- disabling, rotation, re-enabling ------------------------------------------------------------


def test_disabling_ends_sessions_blocks_login_and_rotation_leaves_them_out(
    desk_client, desk_app, database, clock
) -> None:
    _add(desk_client, desk_app, "bob", password=BOB_PASSWORD)
    _add(desk_client, desk_app, "carol", password="carol's long password")
    secret = enrol(desk_app.test_client(), "bob", BOB_PASSWORD)
    clock.advance()
    bob_client = logged_in_client(desk_app, database, "bob", BOB_PASSWORD)
    carol_client = logged_in_client(desk_app, database, "carol", "carol's long password")
    bob = worker_named(database, "bob")
    bob_sids = _sids(database, bob.id)
    assert bob_client.get("/account").status_code == 200

    page = _post(desk_client, desk_app, f"/admin/people/{bob.id}/disable")
    assert page.status_code == 200 and "Rotate intake key now" in page.get_data(as_text=True)
    assert bob_client.get("/account").status_code == 302, "bob's live session died"
    assert _sids(database, bob.id) == [] and all(desk_app.extensions["rri.desk"].vault.get(s) is None for s in bob_sids)
    refused = post_login(desk_app.test_client(), "bob", BOB_PASSWORD, code_for(secret, clock))
    assert refused.status_code == 401 and session_cookie(refused) is None
    assert [e.detail for e in events(database, "caseworker.disable")] == ["bob"]

    with database.session() as session:
        old = current(session).id
    assert _post(desk_client, desk_app, "/admin/intake-key/rotate").status_code == 200
    with database.session() as session:
        new = current(session).id
    assert new != old
    assert new not in _held(database, "bob") and old in _held(database, "bob")
    assert new in _held(database, "carol") and new in _held(database, "admin")
    with database.session() as session:
        recovery_id = key_id(keyring.recovery_public(session)).hex()
    assert new in _held_by(database, recovery_id), "the recovery key gets the new key too"
    # Open sessions can read new reports without logging in again; old cases stay readable.
    for username in ("admin", "carol"):
        ring = desk_app.extensions["rri.desk"].vault.get(_sid_of(database, username))
        assert {bytes.fromhex(old), bytes.fromhex(new)} <= set(ring.intake), username
    assert carol_client.get("/account").status_code == 200
    assert [e.detail for e in events(database, "intake_key.rotate")] == [f"{old} -> {new}"]

    # Re-enabled, bob logs in again; he lacks the new key until granted.
    assert _post(desk_client, desk_app, f"/admin/people/{bob.id}/enable").status_code == 200
    clock.advance()
    assert session_cookie(post_login(desk_app.test_client(), "bob", BOB_PASSWORD, code_for(secret, clock)))
    assert "1 of 2" in desk_client.get("/admin/people").get_data(as_text=True)
    _post(desk_client, desk_app, f"/admin/people/{bob.id}/grant")
    assert new in _held(database, "bob")
    _audit_holds(database)


def _sids(database, worker_id: int) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(StaffSession.id).where(StaffSession.caseworker_id == worker_id)))


def test_an_admin_cannot_disable_themselves(desk_client, desk_app, database) -> None:
    me = worker_named(database, "admin")
    assert _post(desk_client, desk_app, f"/admin/people/{me.id}/disable").status_code == 400
    assert not worker_named(database, "admin").disabled


def test_reset_authenticator_for_a_lost_phone(desk_client, desk_app, database, clock) -> None:
    _add(desk_client, desk_app, "bob", password=BOB_PASSWORD)
    enrol(desk_app.test_client(), "bob", BOB_PASSWORD)
    bob_client = logged_in_client(desk_app, database, "bob", BOB_PASSWORD)
    bob = worker_named(database, "bob")
    assert bob.totp_secret is not None
    assert _post(desk_client, desk_app, f"/admin/people/{bob.id}/reset-authenticator").status_code == 200
    assert worker_named(database, "bob").totp_secret is None
    assert bob_client.get("/account").status_code == 302
    assert [e.detail for e in events(database, "totp.reset")] == ["bob"]
    clock.advance()
    new_secret = enrol(desk_app.test_client(), "bob", BOB_PASSWORD)
    with database.session() as session:
        worker = session.get(Caseworker, bob.id)
        ring = keyring.unlock(session, worker, BOB_PASSWORD)
        assert totp.open_secret(ring.owner, worker.totp_secret) == new_secret
        with pytest.raises(BadPassword):
            keyring.unlock(session, worker, ADMIN_PASSWORD)
