"""A first login: the password was right, but no session opens until a first TOTP code confirms
the new authenticator. The pending enrolment (with the unlocked keys) lives in memory only,
under a random one-time value the browser holds, for ``ENROL_TTL`` and ``ENROL_TRIES`` codes."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass

from . import audit, errors, totp
from .clock import now
from .db import Database
from .keyring import Keyring
from .models import Caseworker
from .staff_throttle import clear_failures

ENROL_TTL = dt.timedelta(minutes=10)
ENROL_TRIES = 5


class Expired(errors.NotFound):
    """No such enrolment (any more): it timed out, ran out of tries, or the account changed."""


class WrongCode(errors.Invalid):
    """The code does not match the new secret; the enrolment stays open for another try."""


@dataclass
class Enrolment:
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

    def begin(self, worker: Caseworker, ring: Keyring, target: str | None) -> str:
        """A new secret for this account; returns the one-time value that names the enrolment."""
        enrolment = Enrolment(worker.id, worker.username, ring, totp.new_secret(), target, now() + ENROL_TTL)
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


def confirm(
    db: Database, replay: totp.ReplayGuard, enrolments: Enrolments, token: str, code: str
) -> tuple[Caseworker, Enrolment]:
    """Seal the secret to the account once ``code`` matches it; returns the account and the
    finished enrolment (its keyring now the caller's to put in a session). Raises WrongCode (try
    again) or Expired."""
    enrolment = enrolments.get(token)
    if enrolment is None:
        raise Expired("the set-up expired")
    if not replay.accept(enrolment.worker_id, enrolment.secret, code):
        enrolment.tries += 1
        if enrolment.tries < ENROL_TRIES:
            raise WrongCode("that code did not match")
        enrolments.drop(token)
        with db.session() as session:
            audit.record(session, "totp.enrol_failure", actor_id=enrolment.worker_id, detail=enrolment.username)
        raise Expired("too many wrong codes")
    enrolments.take(token)
    worker = _store_secret(db, enrolment)
    if worker is None:
        enrolment.ring.forget()
        raise Expired("the account changed during the set-up")
    return worker, enrolment


def _store_secret(db: Database, enrolment: Enrolment) -> Caseworker | None:
    """Seal the confirmed secret to the caseworker's key; None if the account changed meanwhile."""
    with db.session() as session:
        worker = session.get(Caseworker, enrolment.worker_id)
        if (
            worker is None
            or worker.disabled
            or worker.totp_secret is not None
            or worker.key_id != enrolment.ring.owner.id.hex()
        ):
            return None
        worker.totp_secret = totp.seal_secret(worker.public_key, enrolment.secret)
        clear_failures(worker)
        audit.record(session, "totp.enrol", actor_id=worker.id, detail=worker.username)
        audit.record(session, "login.success", actor_id=worker.id, detail=f"{worker.username}: first login")
        session.flush()
        session.expunge(worker)
        return worker
