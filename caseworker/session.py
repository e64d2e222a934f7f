"""Staff sessions: a row in the database, the unlocked keys in this process's memory only.

The cookie holds a random value; the database holds its SHA-256 and the times needed for the
idle and absolute timeouts. The caseworker's unlocked Keyring lives in ``KeyVault`` keyed by the
same hash, never in a cookie or on disk. Logout, expiry or a restart of the process destroys it,
and a session without its keys counts as logged out.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable

from flask import abort, current_app, g, redirect, request, url_for
from sqlalchemy import delete

from cases import audit
from cases.clock import now
from cases.db import Database
from cases.keyring import Keyring
from cases.models import Caseworker, Role, StaffSession

COOKIE = "desk_session"
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)


class KeyVault:
    """Unlocked keyrings by session hash, in memory; thread-safe."""

    def __init__(self) -> None:
        self._rings: dict[str, Keyring] = {}
        self._lock = threading.Lock()

    def put(self, sid: str, ring: Keyring) -> None:
        with self._lock:
            self._rings[sid] = ring

    def get(self, sid: str) -> Keyring | None:
        with self._lock:
            return self._rings.get(sid)

    def drop(self, sid: str) -> None:
        with self._lock:
            ring = self._rings.pop(sid, None)
        if ring is not None:
            ring.forget()


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _db() -> Database:
    return current_app.extensions["rri.db"]


def vault() -> KeyVault:
    return current_app.extensions["rri.vault"]


def start(worker: Caseworker, ring: Keyring) -> str:
    """Open a session; returns the cookie value to set."""
    cookie = secrets.token_urlsafe(32)
    sid = _hash(cookie)
    moment = now()
    with _db().session() as session:
        session.add(StaffSession(id=sid, caseworker_id=worker.id, created_at=moment, last_seen_at=moment))
    vault().put(sid, ring)
    return cookie


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def load() -> None:
    """before_request: set g.user, g.keyring and g.sid, or leave them None."""
    g.user = g.keyring = g.sid = None
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return
    sid = _hash(cookie)
    with _db().session() as session:
        row = session.get(StaffSession, sid)
        ring = vault().get(sid)
        moment = now()
        if row is None:
            vault().drop(sid)
            return
        expired = moment - _aware(row.last_seen_at) > IDLE or moment - _aware(row.created_at) > ABSOLUTE
        worker = session.get(Caseworker, row.caseworker_id)
        if expired or ring is None or worker is None or worker.disabled:
            session.delete(row)
            vault().drop(sid)
            return
        row.last_seen_at = moment
        session.expunge(worker)
    g.user, g.keyring, g.sid = worker, ring, sid


def end() -> None:
    if g.get("sid"):
        with _db().session() as session:
            session.execute(delete(StaffSession).where(StaffSession.id == g.sid))
        vault().drop(g.sid)
    g.user = g.keyring = g.sid = None


def end_all_for(caseworker_id: int) -> None:
    """When an account is disabled or its password changes elsewhere."""
    with _db().session() as session:
        for row in session.query(StaffSession).filter(StaffSession.caseworker_id == caseworker_id):
            vault().drop(row.id)
            session.delete(row)


def csrf_token() -> str:
    """Bound to the session: a form from another session (or site) does not validate."""
    return hmac.new(current_app.config["SECRET_KEY"], (g.sid or "").encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    if request.method == "POST" and g.get("sid"):
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent, csrf_token()):
            abort(400)


def require(*roles: Role) -> Callable:
    """Login required; with roles, only those roles (others get 403, which is audited)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            if g.get("user") is None:
                return redirect(url_for("auth.login", next=request.path))
            if roles and g.user.role not in roles:
                with _db().session() as session:
                    audit.record(session, "access.denied", actor_id=g.user.id, detail=request.path[:200])
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


STAFF = (Role.ADMIN, Role.CASEWORKER)  # roles that may open cases
