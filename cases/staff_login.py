"""Checking a desk login: password, key unlock, second factor.

A login needs three things: the password (checked against its argon2 hash), the private key it
unlocks (cases.keyring.unlock), and a TOTP code, whose secret is sealed to that key and so can be
read only after the unlock. Every failure -- unknown name, wrong factor, paused account -- gives
the same answer after the same argon2 work, so the answer reveals neither which names exist, nor
which factor was wrong, nor whether the account is paused. Repeated failures from browsers the
caseworker has not logged in from pause the account for a growing while, for such browsers only
(cases/staff_throttle.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import passwords as key_locking
from crypto.errors import BadPassword
from crypto.kdf import Argon2Params
from crypto.keys import KeyPair

from . import audit, keyring, passwords, totp
from .clock import now
from .db import Database
from .keyring import Keyring
from .models import Caseworker
from .staff_enrolment import Enrolments
from .staff_throttle import Argon2Slots, Devices, clear_failures, minutes_locked, register_failure

FLOOR_FACTOR, FLOOR_MARGIN = 1.25, 0.05  # a failure's least time: the decoy's argon2 time x 1.25 + 50 ms
STRIPES = 64


@dataclass(frozen=True)
class Decoy:
    """A password hash and a locked key nobody can open, and the least time a failure takes."""

    hashed: str
    locked: bytes
    key_id: bytes
    floor: float


class Result(Enum):
    FAILED = "failed"
    ENROL = "enrol"  # right password, no authenticator yet (cases/staff_enrolment.py)
    OK = "ok"


@dataclass
class Outcome:
    result: Result
    worker: Caseworker | None = None  # detached from its database session
    ring: Keyring | None = None


class Logins:
    """The login rules and their in-memory state, one per desk process (its unlocked keys live
    there too): argon2 slots, trusted devices, used codes, pending enrolments."""

    def __init__(self, db: Database, params: Argon2Params, slots: int, device_key: bytes) -> None:
        self.db, self.params = db, params
        self.slots = Argon2Slots(slots)
        self.devices = Devices(device_key)
        self.replay = totp.ReplayGuard()
        self.enrolments = Enrolments()
        # Attempts on one name run one at a time, so parallel guesses cannot all slip in before
        # the failure counter is written. Striped, so unknown names cannot grow a table.
        self._stripes = tuple(threading.Lock() for _ in range(STRIPES))
        self._decoy: Decoy | None = None
        self._decoy_lock = threading.Lock()

    def serialise(self, username: str) -> threading.Lock:
        digest = hashlib.sha256(username.encode("utf-8", "replace")).digest()
        return self._stripes[digest[0] % len(self._stripes)]

    def attempt(self, username: str, password: str, code: str, device: str | None = None) -> Outcome:
        """Raises staff_throttle.Busy when every argon2 slot stays taken. No database connection
        is held while waiting for a slot, so a flood of logins cannot starve the other pages."""
        with self.slots.take(self._is_trusted(username, device)):
            started, floor = time.monotonic(), self.decoy().floor
            with self.serialise(username), self.db.session() as session:
                outcome = self._check(session, username, password, code, device)
        if outcome.result is Result.FAILED:
            time.sleep(max(0.0, started + floor - time.monotonic()))  # outside the slot: costs no argon2
        return outcome

    def decoy(self) -> Decoy:
        """Built once per process. Its floor is what the two argon2 runs of a login took then, plus
        a margin: every failure is answered no sooner, so the database work that differs between
        an unknown name, a known one and a paused one does not show in the timing."""
        with self._decoy_lock:
            if self._decoy is None:
                filler, pair = secrets.token_urlsafe(16), KeyPair.generate()
                hashed = passwords.hash_password(filler, self.params)
                locked = key_locking.lock(pair, filler, self.params)
                started = time.monotonic()
                _run_decoy(hashed, locked, pair.id, "not " + filler)
                floor = (time.monotonic() - started) * FLOOR_FACTOR + FLOOR_MARGIN
                self._decoy = Decoy(hashed, locked, pair.id, floor)
            return self._decoy

    def _decoy_work(self, password: str) -> None:
        """The same two argon2 runs a real account costs, so unknown and paused names take as long."""
        decoy = self.decoy()
        _run_decoy(decoy.hashed, decoy.locked, decoy.key_id, password)

    def _is_trusted(self, username: str, device: str | None) -> bool:
        if not device:
            return False
        with self.db.session() as session:
            worker_id = session.scalar(select(Caseworker.id).where(Caseworker.username == username))
        return worker_id is not None and self.devices.trusted(worker_id, device)

    def _check(self, session: Session, username: str, password: str, code: str, device: str | None) -> Outcome:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
        if worker is None:
            self._decoy_work(password)
            audit.record(session, "login.failure")
            return Outcome(Result.FAILED)
        moment = now()
        trusted = self.devices.trusted(worker.id, device)
        if not trusted and minutes_locked(worker, moment):
            # Paused for untrusted browsers: the same work and answer as any other failure.
            self._decoy_work(password)
            audit.record(session, "login.locked", actor_id=worker.id, detail=worker.username)
            return Outcome(Result.FAILED)
        ring = _unlock(session, worker, password)
        if ring is None:
            return self._fail(session, worker, moment, "wrong password", device)
        if worker.disabled:
            ring.forget()
            return self._fail(session, worker, moment, "account disabled", device)
        if worker.totp_secret is None:
            # Right password, no authenticator yet: no session until a first code is confirmed.
            audit.record(session, "totp.enrol_start", actor_id=worker.id, detail=worker.username)
            return _detached(session, Outcome(Result.ENROL, worker, ring))
        secret = totp.open_secret(ring.owner, worker.totp_secret)
        if not self.replay.accept(worker.id, secret, code):
            ring.forget()
            return self._fail(session, worker, moment, "wrong or reused code", device)
        if trusted:
            # Outsiders' failures keep pausing untrusted browsers: a trusted login does not reset them.
            self.devices.succeeded(worker.id, device)
        else:
            clear_failures(worker)
        audit.record(session, "login.success", actor_id=worker.id, detail=worker.username)
        return _detached(session, Outcome(Result.OK, worker, ring))

    def _fail(self, session: Session, worker: Caseworker, moment: dt.datetime, why: str, device: str | None) -> Outcome:
        if self.devices.trusted(worker.id, device):
            self.devices.failed(worker.id, device)  # the caseworker's own browser: only it loses trust
        else:
            register_failure(worker, moment)
        # The user name only because the account exists (an unknown "name" may be a mistyped password).
        audit.record(session, "login.failure", actor_id=worker.id, detail=f"{worker.username}: {why}")
        return Outcome(Result.FAILED)


def _detached(session: Session, outcome: Outcome) -> Outcome:
    session.flush()
    session.expunge(outcome.worker)
    return outcome


def _run_decoy(hashed: str, locked: bytes, kid: bytes, password: str) -> None:
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
