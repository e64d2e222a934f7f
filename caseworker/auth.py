"""Caseworker desk: login (password, key unlock, second factor), enrolment, logout, account.

A login needs three things: the password (checked against its argon2 hash), the private key it
unlocks (cases.keyring.unlock), and a TOTP code, whose secret is sealed to that key and so can be
read only after the unlock. Every failure -- unknown name, wrong factor, paused account -- gets
the same status and page after the same argon2 work, so the answer reveals neither which names
exist, nor which factor was wrong, nor whether the account is paused. Repeated failures from
browsers the caseworker has not logged in from pause the account for a growing while, for such
browsers only (caseworker/throttle.py); the count lives in the database (shared by every
thread, kept over restarts).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit, keyring, passwords
from cases.clock import now
from cases.keyring import Keyring
from cases.languages import LANGUAGES as ALL_LANGUAGES
from cases.models import Caseworker, Role
from crypto import passwords as key_locking
from crypto.errors import BadPassword
from crypto.keys import KeyPair, fingerprint

from . import session as staff_session
from . import throttle, totp
from .auth_forms import MAX_PASSWORD, CodeForm, LoginForm, PasswordChangeForm, PreferencesForm
from .context import EXTENSION, desk

bp = Blueprint("auth", __name__)

GENERIC_FAILURE = (
    "Wrong user name, password or code. After repeated failures, logins from a browser you have "
    "not logged in from before are paused for up to an hour."
)
MAX_FAILURES = 5  # the 5th untrusted failure in a row pauses the account for 1 minute, then 2, 4, ... 60
MAX_LOCK_MINUTES = 60
FLOOR_FACTOR, FLOOR_MARGIN = 1.25, 0.05  # a failure's least time: the decoy's argon2 time x 1.25 + 50 ms
ENROL_COOKIE = "desk_enrol"
ENROL_TTL = dt.timedelta(minutes=10)
ENROL_TRIES = 5
LANGUAGES = {code: language.name for code, language in ALL_LANGUAGES.items()}


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


@dataclass(frozen=True)
class Decoy:
    """A password hash and a locked key nobody can open, and the least time a failure takes."""

    hashed: str
    locked: bytes
    key_id: bytes
    floor: float


@dataclass
class LoginState:
    replay: totp.ReplayGuard = field(default_factory=totp.ReplayGuard)
    enrolments: Enrolments = field(default_factory=Enrolments)
    # Attempts on one name run one at a time, so parallel guesses cannot all slip in before the
    # failure counter is written. Striped, so unknown names cannot grow a table.
    stripes: tuple[threading.Lock, ...] = field(default_factory=lambda: tuple(threading.Lock() for _ in range(64)))
    decoy: Decoy | None = None
    decoy_lock: threading.Lock = field(default_factory=threading.Lock)
    slots: throttle.Argon2Slots = field(default_factory=lambda: throttle.Argon2Slots(2))
    devices: throttle.Devices = field(default_factory=lambda: throttle.Devices(secrets.token_bytes(32)))

    def serialise(self, username: str) -> threading.Lock:
        digest = hashlib.sha256(username.encode("utf-8", "replace")).digest()
        return self.stripes[digest[0] % len(self.stripes)]


@bp.record_once
def _install(state) -> None:  # type: ignore[no-untyped-def]
    app = state.app
    slots = throttle.Argon2Slots(app.extensions[EXTENSION].settings.argon2_slots)
    app.extensions.setdefault("rri.login", LoginState(slots=slots, devices=throttle.Devices(app.config["SECRET_KEY"])))


def login_state() -> LoginState:
    return current_app.extensions["rri.login"]


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
    return desk().settings.secure_cookies


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


def _decoy() -> Decoy:
    """Built once per process. Its floor is what the two argon2 runs of a login took then, plus
    a margin: every failure is answered no sooner, so the database work that differs between an
    unknown name, a known one and a paused one does not show in the timing."""
    state = login_state()
    with state.decoy_lock:
        if state.decoy is None:
            params = desk().settings.argon2
            filler, pair = secrets.token_urlsafe(16), KeyPair.generate()
            hashed, locked = passwords.hash_password(filler, params), key_locking.lock(pair, filler, params)
            started = time.monotonic()
            _run_decoy(hashed, locked, pair.id, "not " + filler)
            floor = (time.monotonic() - started) * FLOOR_FACTOR + FLOOR_MARGIN
            state.decoy = Decoy(hashed, locked, pair.id, floor)
        return state.decoy


def _run_decoy(hashed: str, locked: bytes, kid: bytes, password: str) -> None:
    passwords.verify_password(hashed, password)
    with contextlib.suppress(BadPassword):
        key_locking.unlock(locked, password, kid)


def _decoy_work(password: str) -> None:
    """The same two argon2 runs a real account costs, so unknown and paused names take as long."""
    decoy = _decoy()
    _run_decoy(decoy.hashed, decoy.locked, decoy.key_id, password)


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


def _device_cookie() -> str | None:
    return request.cookies.get(throttle.DEVICE_COOKIE)


def _open_session(worker: Caseworker, ring: Keyring, target: str | None) -> Response:
    if g.get("sid"):
        staff_session.end()  # a new login never inherits an old session id
    cookie = staff_session.start(worker, ring)
    response = redirect(target or home_for(worker))
    set_session_cookie(response, cookie)
    if not login_state().devices.trusted(worker.id, _device_cookie()):
        # This browser is now the caseworker's own: it keeps logging in while outsiders are paused.
        response.set_cookie(
            throttle.DEVICE_COOKIE,
            login_state().devices.issue(worker.id),
            max_age=throttle.DEVICE_MAX_AGE,
            httponly=True,
            samesite="Strict",
            secure=_secure_cookies(),
            path="/login",
        )
    return response


# --- login ------------------------------------------------------------------------------------


class Result(Enum):
    FAILED = "failed"
    ENROL = "enrol"
    OK = "ok"


@dataclass
class Outcome:
    result: Result
    worker: Caseworker | None = None
    ring: Keyring | None = None


def _fail(session: Session, worker: Caseworker, moment: dt.datetime, why: str, device: str | None) -> Outcome:
    devices = login_state().devices
    if devices.trusted(worker.id, device):
        devices.failed(worker.id, device)  # the caseworker's own browser: only it loses trust
    else:
        register_failure(worker, moment)
    # The user name only because the account exists (an unknown "name" may be a mistyped password).
    audit.record(session, "login.failure", actor_id=worker.id, detail=f"{worker.username}: {why}")
    return Outcome(Result.FAILED)


def _check(session: Session, username: str, password: str, code: str, device: str | None) -> Outcome:
    worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
    if worker is None:
        _decoy_work(password)
        audit.record(session, "login.failure")
        return Outcome(Result.FAILED)
    moment = now()
    trusted = login_state().devices.trusted(worker.id, device)
    if not trusted and _minutes_locked(worker, moment):
        # Paused for untrusted browsers: the same work and answer as any other failure.
        _decoy_work(password)
        audit.record(session, "login.locked", actor_id=worker.id, detail=worker.username)
        return Outcome(Result.FAILED)
    ring = _unlock(session, worker, password)
    if ring is None:
        return _fail(session, worker, moment, "wrong password", device)
    if worker.disabled:
        ring.forget()
        return _fail(session, worker, moment, "account disabled", device)
    if worker.totp_secret is None:
        # Right password, no authenticator yet: no session until a first code is confirmed.
        audit.record(session, "totp.enrol_start", actor_id=worker.id, detail=worker.username)
        session.flush()
        session.expunge(worker)
        return Outcome(Result.ENROL, worker=worker, ring=ring)
    secret = totp.open_secret(ring.owner, worker.totp_secret)
    if not login_state().replay.accept(worker.id, secret, code):
        ring.forget()
        return _fail(session, worker, moment, "wrong or reused code", device)
    if trusted:
        # Outsiders' failures keep pausing untrusted browsers: a trusted login does not reset them.
        login_state().devices.succeeded(worker.id, device)
    else:
        _clear_failures(worker)
    audit.record(session, "login.success", actor_id=worker.id, detail=worker.username)
    session.flush()
    session.expunge(worker)
    return Outcome(Result.OK, worker=worker, ring=ring)


def _is_trusted(username: str, device: str | None) -> bool:
    if not device:
        return False
    with desk().db.session() as session:
        worker_id = session.scalar(select(Caseworker.id).where(Caseworker.username == username))
    return worker_id is not None and login_state().devices.trusted(worker_id, device)


def attempt(username: str, password: str, code: str, device: str | None = None) -> Outcome:
    """Raises throttle.Busy when every argon2 slot stays taken. No database connection is held
    while waiting for a slot, so a flood of logins cannot starve the other pages of them."""
    state = login_state()
    with state.slots.take(_is_trusted(username, device)):
        started, floor = time.monotonic(), _decoy().floor
        with state.serialise(username), desk().db.session() as session:
            outcome = _check(session, username, password, code, device)
    if outcome.result is Result.FAILED:
        time.sleep(max(0.0, started + floor - time.monotonic()))  # outside the slot: costs no argon2
    return outcome


def _login_page(error: str | None = None, status: int = 200, target: str | None = None) -> tuple[str, int]:
    return render_template("login.html", error=error, notice=None, next=target), status


def _busy() -> Response:
    page = render_template("error.html", code=503)
    return Response(page, status=503, headers={"Retry-After": str(throttle.RETRY_AFTER_SECONDS)})


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    target = safe_next(request.values.get("next"))
    if g.get("user") is not None:
        return redirect(target or home_for(g.user))
    if request.method == "GET":
        return _login_page(target=target)
    _refuse_cross_site()
    form = LoginForm()
    if not form.validate():
        return _login_page(GENERIC_FAILURE, 401, target)
    try:
        outcome = attempt(form.username.data or "", form.password.data or "", form.code.data or "", _device_cookie())
    except throttle.Busy:
        return _busy()
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
    form = CodeForm()
    code = form.code.data if form.validate() else ""
    if not login_state().replay.accept(enrolment.worker_id, enrolment.secret, code or ""):
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
        with desk().db.session() as session:
            audit.record(session, "totp.enrol_failure", actor_id=enrolment.worker_id, detail=enrolment.username)
        return _expired_enrolment()
    return _enrol_page(
        enrolment, "That code did not match. Check that your phone's clock is right, then type the newest code.", 400
    )


def _store_secret(enrolment: Enrolment) -> Caseworker | None:
    """Seal the confirmed secret to the caseworker's key; None if the account changed meanwhile."""
    with desk().db.session() as session:
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
        with desk().db.session() as session:
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


def _new_password_problem(form: PasswordChangeForm) -> str | None:
    if not form.validate():
        return f"Fill in all three password fields, each at most {MAX_PASSWORD} characters."
    new, again = form.new.data or "", form.again.data or ""
    if new != again:
        return "The two new passwords are not the same."
    try:
        passwords.check_strength(new)
    except passwords.WeakPassword as exc:
        return f"The new password is too short: {exc}."
    return None


def _relock(worker_id: int, current: str, new: str) -> str:
    """Re-hash the password and re-lock the private key under it; 'ok', 'wrong' or 'locked'."""
    params = desk().settings.argon2
    owner = g.keyring.owner
    state = login_state()
    with state.slots.take(trusted=True), state.serialise(g.user.username), desk().db.session() as session:
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
    form = PasswordChangeForm()
    problem = _new_password_problem(form)
    if problem:
        return _account_page(error=problem, status=400)
    worker, ring = g.user, g.keyring
    try:
        result = _relock(worker.id, form.current.data or "", form.new.data or "")
    except throttle.Busy:
        return _busy()
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
    # The page below embeds a CSRF token bound to the new session id.
    g.sid, g.keyring = staff_session.session_id(cookie), survivor
    staff_session.rebind_csrf()
    response = Response(*_account_page(message="Password changed. Your other sessions were ended."))
    set_session_cookie(response, cookie)
    return response


def _changes(worker: Caseworker, language: str, email: str | None) -> list[tuple[str, object, object]]:
    return [("language", worker.language, language), ("email", worker.email, email)]


@bp.post("/account/preferences")
@staff_session.require()
def preferences():  # type: ignore[no-untyped-def]
    form = PreferencesForm()
    form.language.choices = list(LANGUAGES.items())
    if not form.validate():
        if form.language.errors:
            return _account_page(error="Choose one of the listed languages.", status=400)
        return _account_page(error="That e-mail address does not look right.", status=400)
    language, email = form.language.data or "", form.email.data or ""
    with desk().db.session() as session:
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
