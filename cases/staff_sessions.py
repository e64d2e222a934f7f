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
import hashlib
import secrets
import threading
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .clock import now
from .config import host_name
from .db import Database
from .keyring import Keyring, with_new_wraps
from .models import Caseworker, StaffSession

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
MAX_COOKIE = 128


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


@dataclass(frozen=True)
class Staff:
    """Who a request acts as: the account (detached from any database session), its unlocked
    keys, and the session id."""

    worker: Caseworker
    ring: Keyring
    sid: str


def session_id(cookie: str, host: str) -> str:
    """What the database and the vault know a session by: bound to the host name it was opened
    on, so the same cookie sent through any other host name opens nothing."""
    name = host_name(host) or ""
    return hashlib.sha256(f"{name}\0{cookie}".encode("utf-8", "replace")).hexdigest()


def new_cookie() -> str:
    return secrets.token_urlsafe(32)


def start(db: Database, vault: KeyVault, worker: Caseworker, ring: Keyring, sid: str) -> None:
    """Open the session known by ``sid`` (see ``session_id``) with these keys."""
    moment = now()
    with db.session() as session:
        session.add(StaffSession(id=sid, caseworker_id=worker.id, created_at=moment, last_seen_at=moment))
    vault.put(sid, ring)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def load(db: Database, vault: KeyVault, sid: str) -> Staff | None:
    """The session's principal, its idle time restarted; None if it is gone, expired, keyless or
    its account disabled. A session that ends meanwhile (logout or expiry in another request)
    simply counts as logged out."""
    moment = now()
    with db.session() as session:
        row = session.get(StaffSession, sid)
        ring = vault.touch(sid)
        if row is None:
            vault.drop(sid)
            return None
        expired = moment - _aware(row.last_seen_at) > IDLE or moment - _aware(row.created_at) > ABSOLUTE
        worker = session.get(Caseworker, row.caseworker_id)
        if expired or ring is None or worker is None or worker.disabled:
            session.execute(delete(StaffSession).where(StaffSession.id == sid))
            vault.drop(sid)
            return None
        session.expunge(row)
        # A statement, not an ORM flush: a row deleted meanwhile updates nothing instead of raising.
        touch = update(StaffSession).where(StaffSession.id == sid).values(last_seen_at=moment)
        if session.scalar(touch.returning(StaffSession.id)) is None:
            vault.drop(sid)
            return None
        session.expunge(worker)
    return Staff(worker, ring, sid)


def purge_expired(db: Database, vault: KeyVault) -> None:
    """Forget the keys of sessions past their timeouts, then delete their rows."""
    moment = now()
    vault.purge(moment)
    with db.session() as session:
        stale = or_(StaffSession.last_seen_at < moment - IDLE, StaffSession.created_at < moment - ABSOLUTE)
        for sid in list(session.scalars(select(StaffSession.id).where(stale))):
            vault.drop(sid)
        session.execute(delete(StaffSession).where(stale))


def sweep(db: Database, vault: KeyVault) -> None:
    """``purge_expired`` for a background thread: the keys leave memory first, and a database
    hiccup waits for the next round instead of ending the thread."""
    with contextlib.suppress(SQLAlchemyError):
        purge_expired(db, vault)


def end(db: Database, vault: KeyVault, sid: str) -> None:
    with db.session() as session:
        session.execute(delete(StaffSession).where(StaffSession.id == sid))
    vault.drop(sid)


def end_all_for(db: Database, vault: KeyVault, caseworker_id: int) -> None:
    """When an account is disabled or its password changes elsewhere."""
    mine = StaffSession.caseworker_id == caseworker_id
    with db.session() as session:
        for sid in list(session.scalars(select(StaffSession.id).where(mine))):
            vault.drop(sid)
        # A statement: a session that a logout ends meanwhile is no error.
        session.execute(delete(StaffSession).where(mine))


def refresh(session: Session, vault: KeyVault, caseworker_id: int | None = None) -> dict[str, Keyring]:
    """Give open sessions the intake keys wrapped to them since they logged in (after a grant or
    a rotation), so nobody has to log out to read new reports. A fresh Keyring replaces the old
    one in the vault, so a request already using the old one never sees it change. Returns the
    replaced sessions' new keyrings by session id."""
    rows = select(StaffSession.id)
    if caseworker_id is not None:
        rows = rows.where(StaffSession.caseworker_id == caseworker_id)
    replaced: dict[str, Keyring] = {}
    for sid in session.scalars(rows):
        ring = vault.get(sid)
        if ring is not None:
            fresh = with_new_wraps(session, ring)
            if fresh is not ring:
                vault.put(sid, fresh)
                replaced[sid] = fresh
    return replaced
