"""Caseworker desk: login (password, key unlock, second factor), enrolment, logout, account.

A login needs three things: the password (checked against its argon2 hash), the private key it
unlocks (cases.keyring.unlock), and a TOTP code, whose secret is sealed to that key and so can be
read only after the unlock. Every failure says the same thing and costs the same argon2 work,
so the page reveals neither which names exist nor which factor was wrong. Repeated failures lock
the account for a growing while, in the database (shared by every thread, kept over restarts);
a locked attempt does no argon2 work at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import os
import secrets
import threading
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit, keyring, passwords
from cases.clock import now
from cases.config import Settings
from cases.db import Database
from cases.keyring import Keyring
from cases.models import Caseworker, Role
from crypto import passwords as key_locking
from crypto.errors import BadPassword
from crypto.keys import KeyPair, fingerprint

from . import session as staff_session
from . import totp

bp = Blueprint("auth", __name__)

GENERIC_FAILURE = "Wrong user name, password or code"
MAX_FAILURES = 5  # the 5th failure in a row locks the account for 1 minute, then 2, 4, ... 60
MAX_LOCK_MINUTES = 60
MAX_INPUT = 1024  # longer than any real password; spares argon2 megabyte inputs
ENROL_COOKIE = "desk_enrol"
ENROL_TTL = dt.timedelta(minutes=10)
ENROL_TRIES = 5
# The desk labels reports in the languages the intake form is offered in (intake/i18n.py; the
# desk may not import intake, so the list is repeated here).
LANGUAGES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "zh": "中文",
    "ru": "Русский",
}


# --- in-memory login state (one desk process; see caseworker/session.py) -------------------


@dataclass
class Enrolment:
    """A first login whose password was right, waiting for the first TOTP code."""

    worker_id: int
    username: str
    ring: Keyring
    secret: bytes
    target: str | None
    expires: dt.datetime
    tries: int = 0


class Enrolments:
    """Pending enrolments by a random one-time value (cookie), dropped after ENROL_TTL."""

    def __init__(self) -> None:
        self._pending: dict[str, Enrolment] = {}
        self._lock = threading.Lock()

    def put(self, enrolment: Enrolment) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            self._pending[token] = enrolment
        return token

    def get(self, token: str) -> Enrolment | None:
        with self._lock:
            self._purge()
            return self._pending.get(token)

    def take(self, token: str) -> Enrolment | None:
        """Remove and return it (its keyring goes on into a session)."""
        with self._lock:
            return self._pending.pop(token, None)

    def drop(self, token: str) -> None:
        enrolment = self.take(token)
        if enrolment is not None:
            enrolment.ring.forget()

    def _purge(self) -> None:
        moment = now()
        for token in [t for t, e in self._pending.items() if e.expires <= moment]:
            self._pending.pop(token).ring.forget()


@dataclass
class LoginState:
    replay: totp.ReplayGuard = field(default_factory=totp.ReplayGuard)
    enrolments: Enrolments = field(default_factory=Enrolments)
    # Attempts on one name run one at a time, so parallel guesses cannot all slip in before the
    # failure counter is written. Striped, so unknown names cannot grow a table.
    stripes: tuple[threading.Lock, ...] = field(default_factory=lambda: tuple(threading.Lock() for _ in range(64)))
    decoy: tuple[str, bytes, bytes] | None = None
    decoy_lock: threading.Lock = field(default_factory=threading.Lock)

    def serialise(self, username: str) -> threading.Lock:
        digest = hashlib.sha256(username.encode("utf-8", "replace")).digest()
        return self.stripes[digest[0] % len(self.stripes)]


@bp.record_once
def _install(state) -> None:  # type: ignore[no-untyped-def]
    state.app.extensions.setdefault("rri.login", LoginState())


def login_state() -> LoginState:
    return current_app.extensions["rri.login"]


def _db() -> Database:
    return current_app.extensions["rri.db"]


def _settings() -> Settings:
    return current_app.extensions["rri.settings"]


# --- helpers ---------------------------------------------------------------------------------


def safe_next(value: str | None) -> str | None:
    """Only a path on this site: never another host, scheme or a protocol-relative URL."""
    if not value or len(value) > 512 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def home_for(worker: Caseworker) -> str:
    if worker.role == Role.ANALYST:
        return url_for("reporting.statistics")
    return url_for("inbox.index")


def _secure_cookies() -> bool:
    return os.environ.get("RRI_SECURE_COOKIES") == "1"


def _refuse_cross_site() -> None:
    """No session exists yet, so no CSRF token: refuse posts a browser says came from elsewhere."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _minutes_locked(worker: Caseworker, moment: dt.datetime) -> int:
    """Whole minutes (rounded up) the account stays locked; 0 if it is not."""
    if worker.locked_until is None:
        return 0
    left = (_aware(worker.locked_until) - moment).total_seconds()
    return max(1, math.ceil(left / 60)) if left > 0 else 0


def register_failure(worker: Caseworker, moment: dt.datetime) -> None:
    worker.failed_logins = (worker.failed_logins or 0) + 1
    excess = worker.failed_logins - MAX_FAILURES
    if excess >= 0:
        worker.locked_until = moment + dt.timedelta(minutes=min(2 ** min(excess, 6), MAX_LOCK_MINUTES))


def _clear_failures(worker: Caseworker) -> None:
    worker.failed_logins = 0
    worker.locked_until = None


def _decoy_work(password: str) -> None:
    """The same two argon2 runs a real account costs, so unknown names take as long."""
    state = login_state()
    with state.decoy_lock:
        if state.decoy is None:
            params = _settings().argon2
            filler = secrets.token_urlsafe(16)
            pair = KeyPair.generate()
            state.decoy = (passwords.hash_password(filler, params), key_locking.lock(pair, filler, params), pair.id)
    hashed, locked, kid = state.decoy
    passwords.verify_password(hashed, password)
    with contextlib.suppress(BadPassword):
        key_locking.unlock(locked, password, kid)


def _unlock(session: Session, worker: Caseworker, password: str) -> Keyring | None:
    """The keyring if the password is right. Both argon2 runs happen either way, so a right
    password with a wrong code takes as long as a wrong password."""
    hash_ok = passwords.verify_password(worker.password_hash, password)
    try:
        ring = keyring.unlock(session, worker, password)
    except BadPassword:
        return None
    if not hash_ok:
        ring.forget()
        return None
    return ring


def set_session_cookie(response: Response, cookie: str) -> None:
    # No Max-Age or Expires: the cookie dies with the browser; the server enforces the timeouts.
    response.set_cookie(
        staff_session.COOKIE, cookie, httponly=True, samesite="Strict", secure=_secure_cookies(), path="/"
    )


def _open_session(worker: Caseworker, ring: Keyring, target: str | None) -> Response:
    if g.get("sid"):
        staff_session.end()  # a new login never inherits an old session id
    cookie = staff_session.start(worker, ring)
    response = redirect(target or home_for(worker))
    set_session_cookie(response, cookie)
    return response


# --- login ------------------------------------------------------------------------------------


class Result(Enum):
    FAILED = "failed"
    LOCKED = "locked"
    ENROL = "enrol"
    OK = "ok"


@dataclass
class Outcome:
    result: Result
    worker: Caseworker | None = None
    ring: Keyring | None = None
    minutes: int = 0


def _fail(session: Session, worker: Caseworker, moment: dt.datetime, why: str) -> Outcome:
    register_failure(worker, moment)
    # The user name only because the account exists (an unknown "name" may be a mistyped password).
    audit.record(session, "login.failure", actor_id=worker.id, detail=f"{worker.username}: {why}")
    return Outcome(Result.FAILED)


def _check(session: Session, username: str, password: str, code: str) -> Outcome:
    worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
    if worker is None:
        _decoy_work(password)
        audit.record(session, "login.failure")
        return Outcome(Result.FAILED)
    moment = now()
    minutes = _minutes_locked(worker, moment)
    if minutes:
        audit.record(session, "login.locked", actor_id=worker.id, detail=worker.username)
        return Outcome(Result.LOCKED, minutes=minutes)
    ring = _unlock(session, worker, password)
    if ring is None:
        return _fail(session, worker, moment, "wrong password")
    if worker.disabled:
        ring.forget()
        return _fail(session, worker, moment, "account disabled")
    if worker.totp_secret is None:
        # Right password, no authenticator yet: no session until a first code is confirmed.
        audit.record(session, "totp.enrol_start", actor_id=worker.id, detail=worker.username)
        session.flush()
        session.expunge(worker)
        return Outcome(Result.ENROL, worker=worker, ring=ring)
    secret = totp.open_secret(ring.owner, worker.totp_secret)
    if not login_state().replay.accept(worker.id, secret, code):
        ring.forget()
        return _fail(session, worker, moment, "wrong or reused code")
    _clear_failures(worker)
    audit.record(session, "login.success", actor_id=worker.id, detail=worker.username)
    session.flush()
    session.expunge(worker)
    return Outcome(Result.OK, worker=worker, ring=ring)


def attempt(username: str, password: str, code: str) -> Outcome:
    with login_state().serialise(username), _db().session() as session:
        return _check(session, username, password, code)


def _login_page(error: str | None = None, status: int = 200, target: str | None = None) -> tuple[str, int]:
    return render_template("login.html", error=error, notice=None, next=target), status


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    target = safe_next(request.values.get("next"))
    if g.get("user") is not None:
        return redirect(target or home_for(g.user))
    if request.method == "GET":
        return _login_page(target=target)
    _refuse_cross_site()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    code = request.form.get("code", "")
    if not username or not password or len(username) > 64 or len(password) > MAX_INPUT:
        return _login_page(GENERIC_FAILURE, 401, target)
    outcome = attempt(username, password, code)
    if outcome.result is Result.LOCKED:
        unit = "minute" if outcome.minutes == 1 else "minutes"
        return _login_page(f"Too many attempts; try again in {outcome.minutes} {unit}", 429, target)
    if outcome.result is Result.FAILED:
        return _login_page(GENERIC_FAILURE, 401, target)
    assert outcome.worker is not None and outcome.ring is not None
    if outcome.result is Result.ENROL:
        return _begin_enrolment(outcome.worker, outcome.ring, target)
    return _open_session(outcome.worker, outcome.ring, target)


# --- first login: enrol an authenticator -------------------------------------------------------


def _begin_enrolment(worker: Caseworker, ring: Keyring, target: str | None) -> Response:
    enrolment = Enrolment(
        worker_id=worker.id,
        username=worker.username,
        ring=ring,
        secret=totp.new_secret(),
        target=target,
        expires=now() + ENROL_TTL,
    )
    token = login_state().enrolments.put(enrolment)
    response = redirect(url_for("auth.enrol"))
    response.set_cookie(
        ENROL_COOKIE,
        token,
        max_age=int(ENROL_TTL.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=_secure_cookies(),
        path="/login",
    )
    return response


def _pending() -> tuple[str, Enrolment] | tuple[None, None]:
    token = request.cookies.get(ENROL_COOKIE, "")
    enrolment = login_state().enrolments.get(token) if token else None
    return (token, enrolment) if enrolment else (None, None)


def _enrol_page(enrolment: Enrolment, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "totp_enrol.html",
        username=enrolment.username,
        secret_text=totp.text_form(enrolment.secret),
        issuer=totp.ISSUER,
        error=error,
    ), status


def _expired_enrolment() -> Response:
    response = Response(
        render_template("login.html", error=None, next=None, notice="The set-up expired. Log in again to restart it."),
        status=400,
    )
    response.delete_cookie(ENROL_COOKIE, path="/login")
    return response


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol():  # type: ignore[no-untyped-def]
    token, enrolment = _pending()
    if enrolment is None:
        return _expired_enrolment()
    if request.method == "GET":
        return _enrol_page(enrolment)
    _refuse_cross_site()
    if not login_state().replay.accept(enrolment.worker_id, enrolment.secret, request.form.get("code", "")):
        return _enrol_retry(token, enrolment)
    worker = _store_secret(enrolment)
    login_state().enrolments.take(token)
    if worker is None:
        enrolment.ring.forget()
        return _expired_enrolment()
    response = _open_session(worker, enrolment.ring, enrolment.target)
    response.delete_cookie(ENROL_COOKIE, path="/login")
    return response


def _enrol_retry(token: str, enrolment: Enrolment):  # type: ignore[no-untyped-def]
    enrolment.tries += 1
    if enrolment.tries >= ENROL_TRIES:
        login_state().enrolments.drop(token)
        with _db().session() as session:
            audit.record(session, "totp.enrol_failure", actor_id=enrolment.worker_id, detail=enrolment.username)
        return _expired_enrolment()
    return _enrol_page(
        enrolment, "That code did not match. Check that your phone's clock is right, then type the newest code.", 400
    )


def _store_secret(enrolment: Enrolment) -> Caseworker | None:
    """Seal the confirmed secret to the caseworker's key; None if the account changed meanwhile."""
    with _db().session() as session:
        worker = session.get(Caseworker, enrolment.worker_id)
        if (
            worker is None
            or worker.disabled
            or worker.totp_secret is not None
            or worker.key_id != enrolment.ring.owner.id.hex()
        ):
            return None
        worker.totp_secret = totp.seal_secret(worker.public_key, enrolment.secret)
        _clear_failures(worker)
        audit.record(session, "totp.enrol", actor_id=worker.id, detail=worker.username)
        audit.record(session, "login.success", actor_id=worker.id, detail=f"{worker.username}: first login")
        session.flush()
        session.expunge(worker)
        return worker


@bp.get("/login/enrol/qr.svg")
def enrol_qr() -> Response:
    """The QR code as its own image: the CSP allows no data: URL or inline image."""
    _token, enrolment = _pending()
    if enrolment is None:
        abort(404)
    uri = totp.provisioning_uri(enrolment.secret, enrolment.username)
    return Response(totp.qr_svg(uri), mimetype="image/svg+xml")


# --- logout -------------------------------------------------------------------------------------


@bp.post("/logout")
def logout() -> Response:
    if g.get("user") is not None:
        with _db().session() as session:
            audit.record(session, "logout", actor_id=g.user.id, detail=g.user.username)
        staff_session.end()
    response = redirect(url_for("auth.login"))
    response.delete_cookie(staff_session.COOKIE, path="/", httponly=True, samesite="Strict")
    return response


# --- account ------------------------------------------------------------------------------------


def _account_page(message: str | None = None, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "account.html",
        fingerprint=fingerprint(g.user.public_key),
        languages=LANGUAGES,
        message=message,
        error=error,
    ), status


@bp.get("/account")
@staff_session.require()
def account():  # type: ignore[no-untyped-def]
    return _account_page()


def _new_password_problem(new: str, again: str) -> str | None:
    if new != again:
        return "The two new passwords are not the same."
    if len(new) > MAX_INPUT:
        return "That password is too long."
    try:
        passwords.check_strength(new)
    except passwords.WeakPassword as exc:
        return f"The new password is too short: {exc}."
    return None


def _relock(worker_id: int, current: str, new: str) -> str:
    """Re-hash the password and re-lock the private key under it; 'ok', 'wrong' or 'locked'."""
    params = _settings().argon2
    owner = g.keyring.owner
    with login_state().serialise(g.user.username), _db().session() as session:
        worker = session.get_one(Caseworker, worker_id)
        if worker.key_id != owner.id.hex():
            abort(409)
        if not passwords.verify_password(worker.password_hash, current):
            register_failure(worker, now())
            audit.record(session, "account.password_failure", actor_id=worker.id, detail=worker.username)
            return "locked" if _minutes_locked(worker, now()) else "wrong"
        worker.password_hash = passwords.hash_password(new, params)
        worker.locked_private_key = key_locking.lock(owner, new, params)
        _clear_failures(worker)
        audit.record(session, "account.password", actor_id=worker.id, detail=worker.username)
        return "ok"


@bp.post("/account/password")
@staff_session.require()
def change_password():  # type: ignore[no-untyped-def]
    new, again = request.form.get("new", ""), request.form.get("again", "")
    problem = _new_password_problem(new, again)
    if problem:
        return _account_page(error=problem, status=400)
    worker, ring = g.user, g.keyring
    result = _relock(worker.id, request.form.get("current", "")[:MAX_INPUT], new)
    if result == "locked":
        # Someone at an open session guessing the password: end every session of the account.
        staff_session.end_all_for(worker.id)
        return redirect(url_for("auth.login"))
    if result == "wrong":
        return _account_page(error="The current password is wrong.", status=400)
    # Every session of this account ends, this one included; a fresh one takes its place, so
    # whoever held an old session cookie (another device, a thief) is out.
    survivor = Keyring(owner=ring.owner, intake=dict(ring.intake))
    staff_session.end_all_for(worker.id)
    g.sid = None
    cookie = staff_session.start(worker, survivor)
    # The page below embeds a CSRF token bound to the new session id (session.py hashes alike).
    g.sid, g.keyring = hashlib.sha256(cookie.encode()).hexdigest(), survivor
    response = Response(*_account_page(message="Password changed. Your other sessions were ended."))
    set_session_cookie(response, cookie)
    return response


def _valid_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and "." in domain and len(value) <= 254) and not any(
        ch.isspace() or ch in "<>,;\"'" for ch in value
    )


def _changes(worker: Caseworker, language: str, email: str | None) -> list[tuple[str, object, object]]:
    return [("language", worker.language, language), ("email", worker.email, email)]


@bp.post("/account/preferences")
@staff_session.require()
def preferences():  # type: ignore[no-untyped-def]
    language = request.form.get("language", "")
    email = request.form.get("email", "").strip()
    if language not in LANGUAGES:
        return _account_page(error="Choose one of the listed languages.", status=400)
    if email and not _valid_email(email):
        return _account_page(error="That e-mail address does not look right.", status=400)
    with _db().session() as session:
        worker = session.get_one(Caseworker, g.user.id)
        changed = [name for name, before, after in _changes(worker, language, email or None) if before != after]
        worker.language, worker.email = language, email or None
        if changed:
            # Which settings changed, not their values.
            detail = f"{worker.username}: {', '.join(changed)}"
            audit.record(session, "account.change", actor_id=worker.id, detail=detail)
        session.flush()
        session.expunge(worker)
    g.user = worker
    return _account_page(message="Saved." if changed else "Nothing changed.")
