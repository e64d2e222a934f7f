"""Staff sessions: a row in the database, the unlocked keys in this process's memory only.

The cookie holds a random value; the database holds the SHA-256 of the host name it was issued on
and that value, and the times needed for the idle and absolute timeouts. So a cookie replayed
through another host name (the intake's, say) names no session. The caseworker's unlocked Keyring
lives in ``KeyVault`` keyed by the same hash, never in a cookie or on disk. Logout, expiry (swept
from memory even if nobody comes back) or a restart of the process destroys it, and a session
without its keys counts as logged out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, abort, current_app, g, redirect, request, url_for
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SessionInterface
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from cases import audit
from cases.clock import now
from cases.config import host_name
from cases.keyring import Keyring
from cases.models import Caseworker, Role, StaffSession

from .context import desk

COOKIE = "desk_session"
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
SWEEP_SECONDS = 60
CSRF_FIELD = "csrf"


@dataclass
class _Held:
    ring: Keyring
    created: dt.datetime
    seen: dt.datetime


class KeyVault:
    """Unlocked keyrings by session hash, in memory; thread-safe. Keys of sessions past their idle
    or absolute timeout are forgotten by ``purge``, which a background thread runs every minute."""

    def __init__(self) -> None:
        self._rings: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def put(self, sid: str, ring: Keyring) -> None:
        moment = now()
        with self._lock:
            held = self._rings.get(sid)
            self._rings[sid] = _Held(ring, held.created if held else moment, moment)

    def get(self, sid: str) -> Keyring | None:
        with self._lock:
            held = self._rings.get(sid)
        return held.ring if held else None

    def touch(self, sid: str) -> Keyring | None:
        """The keyring of a session in use now (restarts its idle time)."""
        with self._lock:
            held = self._rings.get(sid)
            if held is None:
                return None
            held.seen = now()
            return held.ring

    def drop(self, sid: str) -> None:
        with self._lock:
            held = self._rings.pop(sid, None)
        if held is not None:
            held.ring.forget()

    def purge(self, moment: dt.datetime | None = None) -> int:
        """Forget every keyring idle or alive too long; returns how many."""
        moment = moment or now()
        with self._lock:
            stale = [
                sid
                for sid, held in self._rings.items()
                if moment - held.seen > IDLE or moment - held.created > ABSOLUTE
            ]
            dropped = [self._rings.pop(sid) for sid in stale]
        for held in dropped:
            held.ring.forget()
        return len(dropped)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rings)


def start_sweeper(app: Flask, every: float = SWEEP_SECONDS) -> threading.Event:
    """Run ``purge_expired`` every ``every`` seconds until the returned event is set, so keys of
    abandoned sessions leave memory even if nobody comes back. The thread holds the app only
    weakly: a discarded app takes it along."""
    stop = threading.Event()
    ref = weakref.ref(app)

    def run() -> None:
        while not stop.wait(every):
            alive = ref()
            if alive is None:
                return
            with alive.app_context(), contextlib.suppress(SQLAlchemyError):
                purge_expired()  # keys leave memory first; a database hiccup waits for the next round
            del alive

    threading.Thread(target=run, name="desk-session-sweeper", daemon=True).start()
    return stop


def session_id(cookie: str, host: str | None = None) -> str:
    """What the database and the vault know a session by: bound to the host name it was opened
    on, so the same cookie sent through any other host name opens nothing."""
    name = host_name(request.host if host is None else host) or ""
    return hashlib.sha256(f"{name}\0{cookie}".encode("utf-8", "replace")).hexdigest()


def vault() -> KeyVault:
    return desk().vault


def start(worker: Caseworker, ring: Keyring) -> str:
    """Open a session; returns the cookie value to set."""
    cookie = secrets.token_urlsafe(32)
    sid = session_id(cookie)
    moment = now()
    with desk().db.session() as session:
        session.add(StaffSession(id=sid, caseworker_id=worker.id, created_at=moment, last_seen_at=moment))
    vault().put(sid, ring)
    return cookie


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def load() -> None:
    """before_request: set g.user, g.keyring and g.sid, or leave them None. A session that ends
    while this runs (logout or expiry in another request) simply counts as logged out."""
    g.user = g.keyring = g.sid = None
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > 128:
        return
    sid = session_id(cookie)
    moment = now()
    with desk().db.session() as session:
        row = session.get(StaffSession, sid)
        ring = vault().touch(sid)
        if row is None:
            vault().drop(sid)
            return
        expired = moment - _aware(row.last_seen_at) > IDLE or moment - _aware(row.created_at) > ABSOLUTE
        worker = session.get(Caseworker, row.caseworker_id)
        if expired or ring is None or worker is None or worker.disabled:
            session.execute(delete(StaffSession).where(StaffSession.id == sid))
            vault().drop(sid)
            return
        session.expunge(row)
        # A statement, not an ORM flush: a row deleted meanwhile updates nothing instead of raising.
        touch = update(StaffSession).where(StaffSession.id == sid).values(last_seen_at=moment)
        if session.scalar(touch.returning(StaffSession.id)) is None:
            vault().drop(sid)
            return
        session.expunge(worker)
    g.user, g.keyring, g.sid = worker, ring, sid


def purge_expired() -> None:
    """Forget the keys of sessions past their timeouts, then delete their rows."""
    moment = now()
    vault().purge(moment)
    with desk().db.session() as session:
        stale = or_(StaffSession.last_seen_at < moment - IDLE, StaffSession.created_at < moment - ABSOLUTE)
        for sid in list(session.scalars(select(StaffSession.id).where(stale))):
            vault().drop(sid)
        session.execute(delete(StaffSession).where(stale))


def end() -> None:
    if g.get("sid"):
        with desk().db.session() as session:
            session.execute(delete(StaffSession).where(StaffSession.id == g.sid))
        vault().drop(g.sid)
    g.user = g.keyring = g.sid = None


def end_all_for(caseworker_id: int) -> None:
    """When an account is disabled or its password changes elsewhere."""
    mine = StaffSession.caseworker_id == caseworker_id
    with desk().db.session() as session:
        for sid in list(session.scalars(select(StaffSession.id).where(mine))):
            vault().drop(sid)
        # A statement: a session that a logout ends meanwhile is no error.
        session.execute(delete(StaffSession).where(mine))


def check_host() -> None:
    """The desk answers only on its own host name (RRI_DESK_HOST), never one shared with the
    intake: 421 for anything else, before any cookie is read."""
    expected = desk().settings.desk_host
    if expected and host_name(request.host) != expected:
        abort(421)


# --- CSRF: Flask-WTF's tokens, bound to the staff session --------------------------------------


class RequestOnlySession(SessionInterface):
    """Flask's session, which Flask-WTF keeps its CSRF secret in, lives for one request only and
    is never sent as a cookie: ``bind_csrf`` fills it from the staff session instead."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession:
        return SecureCookieSession()

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def install_csrf(app: Flask) -> CSRFProtect:
    app.session_interface = RequestOnlySession()
    app.config.update(
        WTF_CSRF_FIELD_NAME=CSRF_FIELD,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in before_request, once the staff session is known
        WTF_CSRF_TIME_LIMIT=None,  # the staff session's own timeouts bound it
        WTF_CSRF_SSL_STRICT=False,  # the desk sends no Referer (Referrer-Policy: no-referrer)
    )
    return CSRFProtect(app)


def rebind_csrf() -> None:
    """Key the token to the current session id (also after a password change replaced it)."""
    flask_session.pop(CSRF_FIELD, None)
    g.pop(CSRF_FIELD, None)  # Flask-WTF caches the signed token for the request here
    if g.get("sid"):
        key = current_app.config["SECRET_KEY"]
        flask_session[CSRF_FIELD] = hmac.new(key, f"csrf\0{g.sid}".encode(), hashlib.sha256).hexdigest()


def bind_csrf(protect: CSRFProtect) -> None:
    """before_request, after ``load``: the token's secret is an HMAC of the session id, so a form
    from another session (or site) does not validate; every post within a session must carry it
    (a missing, foreign or malformed one gets 400)."""
    rebind_csrf()
    if g.get("sid"):
        protect.protect()


def require(*roles: Role) -> Callable:
    """Login required; with roles, only those roles (others get 403, which is audited)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            if g.get("user") is None:
                return redirect(url_for("auth.login", next=request.path))
            if roles and g.user.role not in roles:
                with desk().db.session() as session:
                    audit.record(session, "access.denied", actor_id=g.user.id, detail=request.path[:200])
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


STAFF = (Role.ADMIN, Role.CASEWORKER)  # roles that may open cases
