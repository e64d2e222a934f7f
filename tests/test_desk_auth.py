"""Desk login through the real pages: password, key unlock, TOTP enrolment and codes, throttling,
session cookies and timeouts, logout, the account page."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from flask import Flask
from sqlalchemy import select, text, update

import cases.keyring
import cases.passwords
import crypto.passwords
from cases import audit, installation, keyring, staff_enrolment, staff_sessions, staff_throttle, totp
from cases.db import Database
from cases.models import AuditEvent, Caseworker, Role, StaffSession
from caseworker import session as staff_session
from caseworker.enrolment import ENROL_COOKIE
from crypto.errors import BadPassword

from .conftest import ADMIN_PASSWORD
from .desk_helpers import FakeTime, csrf_of, logged_in_client

GENERIC = "Wrong user name, password or code"


# --- helpers shared with tests/test_desk_admin.py -------------------------------------------------


def post_login(client, username: str, password: str, code: str = "", **extra):
    return client.post("/login", data={"username": username, "password": password, "code": code, **extra})


def session_cookie(response) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{staff_session.COOKIE}=") and not header.startswith(f"{staff_session.COOKIE}=;"):
            return header
    return None


def secret_on(page: str) -> bytes:
    """The TOTP secret as the enrolment page shows it for typing by hand."""
    shown = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert shown, "the enrolment page shows the secret as text"
    raw = shown.group(1).replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def enrol(client, username: str, password: str) -> bytes:
    """First login through the pages; returns the TOTP secret read from the enrolment page."""
    response = post_login(client, username, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/enrol")
    assert session_cookie(response) is None
    secret = secret_on(client.get("/login/enrol").get_data(as_text=True))
    response = client.post("/login/enrol", data={"code": totp.current_code(secret)})
    assert response.status_code == 302 and session_cookie(response)
    return secret


def code_for(secret: bytes, clock: FakeTime, steps: int = 0) -> str:
    return TOTP(secret, 6, SHA1(), 30).generate(clock.now + steps * 30).decode()


def events(database, action: str) -> list[AuditEvent]:
    with database.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def worker_named(database, username: str) -> Caseworker:
    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
        session.expunge(worker)
        return worker


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def enrolled(desk_app, clock):
    """The admin has enrolled (and is logged out again); returns the TOTP secret."""
    client = desk_app.test_client()
    secret = enrol(client, "admin", ADMIN_PASSWORD)
    clock.advance()
    return secret


# --- TOTP unit ---------------------------------------------------------------------------------


def test_codes_match_within_one_step_and_never_twice(clock) -> None:
    secret = totp.new_secret()
    assert totp.current_code(secret) == code_for(secret, clock)
    for steps in (-1, 0, 1):
        assert totp.matching_step(secret, code_for(secret, clock, steps)) is not None
    for steps in (-3, -2, 2, 3):
        assert totp.matching_step(secret, code_for(secret, clock, steps)) is None
    assert totp.matching_step(secret, "12345") is None and totp.matching_step(secret, "abcdef") is None
    spaced = code_for(secret, clock)[:3] + " " + code_for(secret, clock)[3:]
    guard = totp.ReplayGuard()
    assert guard.accept(7, secret, spaced)
    assert not guard.accept(7, secret, code_for(secret, clock)), "the same time step is refused"
    assert not guard.accept(7, secret, code_for(secret, clock, -1)), "an older step is refused too"
    assert guard.accept(7, secret, code_for(secret, clock, 1))
    assert guard.accept(8, secret, code_for(secret, clock, 0)), "replay is tracked per caseworker"


# --- enrolment and login ------------------------------------------------------------------------


def test_first_login_enrols_an_authenticator_before_any_session(desk_app, database, clock) -> None:
    client = desk_app.test_client()
    response = post_login(client, "admin", ADMIN_PASSWORD)
    assert response.status_code == 302 and session_cookie(response) is None
    enrol_cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(ENROL_COOKIE))
    assert "HttpOnly" in enrol_cookie and "SameSite=Strict" in enrol_cookie and "Max-Age=600" in enrol_cookie
    assert client.get("/account").status_code == 302, "no session before the first code"

    page = client.get("/login/enrol")
    assert page.status_code == 200 and "admin" in page.get_data(as_text=True)
    qr = client.get("/login/enrol/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and qr.data.startswith(b"<svg")
    assert desk_app.test_client().get("/login/enrol/qr.svg").status_code == 404, "only for the pending enrolment"

    wrong = client.post("/login/enrol", data={"code": "000000"})
    assert wrong.status_code == 400 and session_cookie(wrong) is None
    secret = secret_on(wrong.get_data(as_text=True))
    done = client.post("/login/enrol", data={"code": code_for(secret, clock)})
    assert done.status_code == 302 and session_cookie(done)
    assert client.get("/account").status_code == 200
    assert [e.detail for e in events(database, "totp.enrol")] == ["admin"]
    assert events(database, "login.success")

    # From now on the code is required, and works.
    clock.advance()
    fresh = desk_app.test_client()
    assert post_login(fresh, "admin", ADMIN_PASSWORD).status_code == 401
    response = post_login(fresh, "admin", ADMIN_PASSWORD, code_for(secret, clock))
    assert response.status_code == 302 and session_cookie(response)
    assert fresh.get("/account").status_code == 200


def test_session_cookie_attributes(desk_app, enrolled, clock) -> None:
    cookie = session_cookie(post_login(desk_app.test_client(), "admin", ADMIN_PASSWORD, code_for(enrolled, clock)))
    assert cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age" not in cookie and "Expires" not in cookie, "a browser-session cookie"
    assert "Secure" not in cookie

    context = desk_app.extensions["rri.desk"]
    context.settings = dataclasses.replace(context.settings, secure_cookies=True)
    clock.advance()
    cookie = session_cookie(post_login(desk_app.test_client(), "admin", ADMIN_PASSWORD, code_for(enrolled, clock)))
    assert cookie and "; Secure" in cookie


def test_every_failure_looks_the_same_and_opens_no_session(desk_app, database, enrolled, clock) -> None:
    good = code_for(enrolled, clock)
    client = desk_app.test_client()
    assert post_login(client, "admin", ADMIN_PASSWORD, good).status_code == 302
    attempts = {
        "wrong password": ("admin", "not the password at all", code_for(enrolled, clock, 1)),
        "wrong code": ("admin", ADMIN_PASSWORD, f"{(int(good) + 1) % 1_000_000:06d}"),
        "reused code": ("admin", ADMIN_PASSWORD, good),
        "no code": ("admin", ADMIN_PASSWORD, ""),
        "unknown user": ("nobody", ADMIN_PASSWORD, good),
    }
    for why, (username, password, code) in attempts.items():
        fresh = desk_app.test_client()
        response = post_login(fresh, username, password, code)
        assert response.status_code == 401, why
        assert GENERIC in response.get_data(as_text=True), why
        assert session_cookie(response) is None, why
        assert fresh.get("/account").status_code == 302, why
    failures = events(database, "login.failure")
    assert len(failures) == len(attempts)
    assert failures[-1].actor_id is None and failures[-1].detail == "", "an unknown name is not recorded"
    assert all(f.detail.startswith("admin: ") for f in failures[:-1])
    with database.session() as session:
        details = " ".join(session.scalars(select(AuditEvent.detail)))
    assert ADMIN_PASSWORD not in details and "not the password" not in details
    assert worker_named(database, "admin").failed_logins == 4


def _count_argon2(monkeypatch) -> list[str]:
    calls: list[str] = []
    for module, name in ((cases.keyring, "unlock"), (cases.passwords, "verify_password"), (crypto.passwords, "unlock")):
        real = getattr(module, name)

        def counted(*args, _real=real, _name=f"{module.__name__}.{name}", **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_untrusted_failures_pause_the_account_but_not_its_own_browser(
    desk_app: Flask, database: Database, enrolled: bytes, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = desk_app.test_client()
    first = post_login(own, "admin", ADMIN_PASSWORD, code_for(enrolled, clock))
    device = next(h for h in first.headers.getlist("Set-Cookie") if h.startswith(f"{staff_throttle.DEVICE_COOKIE}="))
    assert "HttpOnly" in device and "SameSite=Strict" in device and "Path=/login" in device
    assert "admin" not in device.split(";")[0], "nothing identifying in the device cookie"
    own.post("/logout", data={"csrf": csrf_of(own, desk_app, "/account")})

    outsider = desk_app.test_client()
    for _ in range(staff_throttle.MAX_FAILURES):
        assert post_login(outsider, "admin", "wrong password, again", "123456").status_code == 401
    worker = worker_named(database, "admin")
    assert worker.failed_logins == 5 and worker.locked_until is not None

    # Paused for the outsider even with the right password and code, and told nothing new; the
    # answer costs the same argon2 work as any other failure.
    clock.advance()
    calls = _count_argon2(monkeypatch)
    paused = post_login(outsider, "admin", ADMIN_PASSWORD, code_for(enrolled, clock))
    assert paused.status_code == 401 and GENERIC in paused.get_data(as_text=True)
    assert session_cookie(paused) is None
    assert sorted(calls) == ["cases.passwords.verify_password", "crypto.passwords.unlock"]
    assert [e.detail for e in events(database, "login.locked")] == ["admin"]

    # The caseworker's own browser still logs in, and that does not lift the outsiders' pause.
    clock.advance()
    response = post_login(own, "admin", ADMIN_PASSWORD, code_for(enrolled, clock))
    assert response.status_code == 302 and session_cookie(response)
    assert worker_named(database, "admin").locked_until is not None

    # Once the pause lapses, the next untrusted failure pauses for twice as long.
    with database.session() as session:
        session.execute(update(Caseworker).values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    before = dt.datetime.now(dt.UTC)
    assert post_login(outsider, "admin", "still wrong password", "123456").status_code == 401
    until = worker_named(database, "admin").locked_until
    assert until is not None and until.replace(tzinfo=dt.UTC) - before > dt.timedelta(seconds=110)


def test_a_trusted_browser_that_keeps_failing_is_trusted_no_more(
    desk_app: Flask, database: Database, enrolled: bytes, clock: FakeTime
) -> None:
    own = desk_app.test_client()
    assert session_cookie(post_login(own, "admin", ADMIN_PASSWORD, code_for(enrolled, clock)))
    own.post("/logout", data={"csrf": csrf_of(own, desk_app, "/account")})
    for _ in range(staff_throttle.DEVICE_FAILURES):
        assert post_login(own, "admin", "a wrong guess", "123456").status_code == 401
    assert worker_named(database, "admin").failed_logins == 0, "a trusted browser's failures are its own"
    assert post_login(own, "admin", "a wrong guess", "123456").status_code == 401
    assert worker_named(database, "admin").failed_logins == 1, "now it counts as any other browser"


def test_a_forged_device_cookie_is_not_trusted(
    desk_app: Flask, database: Database, enrolled: bytes, clock: FakeTime
) -> None:
    outsider = desk_app.test_client()
    outsider.set_cookie(staff_throttle.DEVICE_COOKIE, "made-up.0123abcd", path="/login")
    for _ in range(staff_throttle.MAX_FAILURES):
        post_login(outsider, "admin", "wrong password, again", "123456")
    assert worker_named(database, "admin").locked_until is not None


def test_lock_grows_to_an_hour_at_most() -> None:
    worker = Caseworker(failed_logins=0)
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    minutes = []
    for _ in range(14):
        staff_throttle.register_failure(worker, moment)
        minutes.append(0 if worker.locked_until is None else (worker.locked_until - moment).seconds // 60)
    assert minutes == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]


def test_unknown_names_cost_the_same_argon2_work(desk_app, database, monkeypatch) -> None:
    post_login(desk_app.test_client(), "nobody", "warm up the decoy")  # builds the decoy once
    calls = _count_argon2(monkeypatch)
    post_login(desk_app.test_client(), "nobody", "some password guess")
    unknown = sorted(calls)
    calls.clear()
    post_login(desk_app.test_client(), "admin", "some password guess")
    assert unknown == ["cases.passwords.verify_password", "crypto.passwords.unlock"]
    assert sorted(calls) == ["cases.keyring.unlock", "cases.passwords.verify_password", "crypto.passwords.unlock"]


def test_the_password_hash_and_the_locked_key_must_both_accept(desk_app, database, enrolled, clock, settings) -> None:
    """A password hash swapped in the database (to a password the attacker chose) is not enough."""
    with database.session() as session:
        forged = cases.passwords.hash_password("attacker's own password", settings.argon2)
        session.execute(update(Caseworker).values(password_hash=forged))
    for password in ("attacker's own password", ADMIN_PASSWORD):
        clock.advance()
        response = post_login(desk_app.test_client(), "admin", password, code_for(enrolled, clock))
        assert response.status_code == 401 and session_cookie(response) is None, password


def test_next_is_followed_only_to_local_paths(desk_app, enrolled, clock) -> None:
    home = url_of(desk_app, "inbox.index")
    targets = {
        "/account": "/account",
        "https://evil.example/x": home,
        "//evil.example/x": home,
        "/\\evil.example": home,
        "javascript:alert(1)": home,
    }
    for sent, expected in targets.items():
        clock.advance()
        response = post_login(desk_app.test_client(), "admin", ADMIN_PASSWORD, code_for(enrolled, clock), next=sent)
        assert response.status_code == 302, sent
        assert response.headers["Location"] == expected, sent


def url_of(desk_app, endpoint: str) -> str:
    from flask import url_for

    with desk_app.test_request_context():
        return url_for(endpoint)


def test_login_form_keeps_a_local_next_and_cross_site_posts_are_refused(desk_app) -> None:
    client = desk_app.test_client()
    redirected = client.get("/account")
    assert redirected.status_code == 302 and "next=/account" in redirected.headers["Location"].replace("%2F", "/")
    page = client.get("/login?next=/account").get_data(as_text=True)
    assert 'name="next" value="/account"' in page
    assert 'name="next"' not in client.get("/login?next=https://evil.example").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403


def test_enrolment_gives_up_after_five_wrong_codes(desk_app, database) -> None:
    client = desk_app.test_client()
    post_login(client, "admin", ADMIN_PASSWORD)
    for _ in range(staff_enrolment.ENROL_TRIES - 1):
        assert client.post("/login/enrol", data={"code": "000000"}).status_code == 400
    last = client.post("/login/enrol", data={"code": "000000"})
    assert "expired" in last.get_data(as_text=True)
    assert client.get("/login/enrol/qr.svg").status_code == 404
    assert worker_named(database, "admin").totp_secret is None
    assert events(database, "totp.enrol_failure")


def test_enrolment_expires(desk_app, database, clock) -> None:
    client = desk_app.test_client()
    post_login(client, "admin", ADMIN_PASSWORD)
    pending = desk_app.extensions["rri.desk"].logins.enrolments
    for enrolment in pending._pending.values():
        enrolment.expires = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    response = client.post("/login/enrol", data={"code": "123456"})
    assert "expired" in response.get_data(as_text=True) and session_cookie(response) is None
    assert pending._pending == {}


def test_a_disabled_account_cannot_log_in(desk_app, database, enrolled, clock) -> None:
    with database.session() as session:
        session.execute(update(Caseworker).values(disabled=True))
    response = post_login(desk_app.test_client(), "admin", ADMIN_PASSWORD, code_for(enrolled, clock))
    assert response.status_code == 401 and GENERIC in response.get_data(as_text=True)
    assert session_cookie(response) is None
    assert events(database, "login.failure")[-1].detail == "admin: account disabled"


def test_the_totp_secret_is_stored_only_sealed(desk_app, database, enrolled) -> None:
    text_form = base64.b32encode(enrolled).decode().rstrip("=")
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM caseworkers")).all()
    blob = b"".join(
        value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row if value is not None
    )
    assert enrolled not in blob and enrolled.hex().encode() not in blob
    assert text_form.encode() not in blob and text_form.lower().encode() not in blob
    # It opens only with the key the password unlocks.
    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, worker, ADMIN_PASSWORD)
        assert totp.open_secret(ring.owner, worker.totp_secret) == enrolled


# --- sessions: timeouts and logout ---------------------------------------------------------------


def _only_session(database) -> StaffSession:
    with database.session() as session:
        return session.scalars(select(StaffSession)).one()


@pytest.mark.parametrize("column", ["last_seen_at", "created_at"])
def test_idle_and_absolute_timeouts_log_out(desk_app, database, column) -> None:
    client = logged_in_client(desk_app, database)
    assert client.get("/account").status_code == 200
    sid = _only_session(database).id
    age = staff_sessions.IDLE if column == "last_seen_at" else staff_sessions.ABSOLUTE
    with database.session() as session:
        session.execute(update(StaffSession).values({column: dt.datetime.now(dt.UTC) - age - dt.timedelta(seconds=5)}))
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert desk_app.extensions["rri.desk"].vault.get(sid) is None
    with database.session() as session:
        assert session.get(StaffSession, sid) is None


def test_logout_destroys_the_keyring(desk_app, database) -> None:
    client = logged_in_client(desk_app, database)
    csrf = csrf_of(client, desk_app, "/account")
    sid = _only_session(database).id
    ring = desk_app.extensions["rri.desk"].vault.get(sid)
    assert ring is not None and ring.intake
    assert client.post("/logout").status_code == 400, "logout needs the CSRF token"
    response = client.post("/logout", data={"csrf": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert f"{staff_session.COOKIE}=;" in " ".join(response.headers.getlist("Set-Cookie"))
    assert desk_app.extensions["rri.desk"].vault.get(sid) is None and ring.intake == {}
    with database.session() as session:
        assert session.get(StaffSession, sid) is None
    assert client.get("/account").status_code == 302
    assert [e.detail for e in events(database, "logout")] == ["admin"]


# --- account page -----------------------------------------------------------------------------


def _change(client, desk_app, current: str, new: str, again: str | None = None):
    csrf = csrf_of(client, desk_app, "/account")
    data = {"csrf": csrf, "current": current, "new": new, "again": new if again is None else again}
    return client.post("/account/password", data=data)


def test_password_change_relocks_the_key_and_ends_other_sessions(desk_app, database, enrolled, clock) -> None:
    new = "a brand new passphrase"
    here, elsewhere = logged_in_client(desk_app, database), logged_in_client(desk_app, database)
    assert _change(here, desk_app, ADMIN_PASSWORD, new, "a different one entirely").status_code == 400
    assert _change(here, desk_app, ADMIN_PASSWORD, "short").status_code == 400
    wrong = _change(here, desk_app, "not my current password", new)
    assert wrong.status_code == 400 and "current password is wrong" in wrong.get_data(as_text=True)

    response = _change(here, desk_app, ADMIN_PASSWORD, new)
    assert response.status_code == 200 and "Password changed" in response.get_data(as_text=True)
    assert session_cookie(response), "this browser gets a fresh session"
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302, "other sessions ended"
    with database.session() as session:
        assert len(session.scalars(select(StaffSession)).all()) == 1
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        with pytest.raises(BadPassword):
            keyring.unlock(session, worker, ADMIN_PASSWORD)
        assert keyring.unlock(session, worker, new).intake, "the new password unlocks the key and its wraps"
        assert cases.passwords.verify_password(worker.password_hash, new)
        assert not cases.passwords.verify_password(worker.password_hash, ADMIN_PASSWORD)
    # The session kept its keys, and the authenticator still works with the new password.
    sid = _only_session(database).id
    assert desk_app.extensions["rri.desk"].vault.get(sid).intake
    assert post_login(desk_app.test_client(), "admin", new, code_for(enrolled, clock)).status_code == 302
    assert [e.detail for e in events(database, "account.password")] == ["admin"]
    assert len(events(database, "account.password_failure")) == 1


def test_guessing_the_current_password_from_a_session_locks_the_account(desk_app, database) -> None:
    client = logged_in_client(desk_app, database)
    for _ in range(staff_throttle.MAX_FAILURES - 1):
        assert _change(client, desk_app, "a wrong guess here", "a brand new passphrase").status_code == 400
    response = _change(client, desk_app, "a wrong guess here", "a brand new passphrase")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/account").status_code == 302
    assert worker_named(database, "admin").locked_until is not None


def test_a_password_change_after_the_key_changed_is_a_conflict(desk_app, database) -> None:
    client = logged_in_client(desk_app, database)
    csrf = csrf_of(client, desk_app, "/account")
    with database.session() as session:
        session.execute(update(Caseworker).values(key_id="00" * 8))
    data = {"csrf": csrf, "current": ADMIN_PASSWORD, "new": "a brand new passphrase", "again": "a brand new passphrase"}
    response = client.post("/account/password", data=data)
    assert response.status_code == 409 and "changed meanwhile" in response.get_data(as_text=True)
    assert not events(database, "account.password")


def test_preferences_language_and_email(desk_app, database) -> None:
    client = logged_in_client(desk_app, database)
    csrf = csrf_of(client, desk_app, "/account")
    assert client.post("/account/preferences", data={"csrf": csrf, "language": "xx"}).status_code == 400
    bad = {"csrf": csrf, "language": "fr", "email": "not an address"}
    assert client.post("/account/preferences", data=bad).status_code == 400
    ok = {"csrf": csrf, "language": "ar", "email": "desk@example.org"}
    page = client.post("/account/preferences", data=ok).get_data(as_text=True)
    assert 'value="ar" selected' in page and "desk@example.org" in page
    worker = worker_named(database, "admin")
    assert worker.language == "ar" and worker.email == "desk@example.org"
    change = events(database, "account.change")
    assert [e.detail for e in change] == ["admin: language, email"], "which fields, not their values"
    cleared = client.post("/account/preferences", data={"csrf": csrf, "language": "ar", "email": ""})
    assert cleared.status_code == 200 and worker_named(database, "admin").email is None


def test_every_role_has_an_account_page(desk_app, database, settings) -> None:
    with database.session() as session:
        installation.create_caseworker(session, "ana", "analyst password 1", Role.ANALYST, settings.argon2)
    client = logged_in_client(desk_app, database, "ana", "analyst password 1")
    page = client.get("/account")
    assert page.status_code == 200 and "ana" in page.get_data(as_text=True)
    with database.session() as session:
        assert audit.verify(session) is None
