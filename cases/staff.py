"""A caseworker's own account: a new password (and the private key re-locked under it), the
language and the e-mail address for notices."""

from __future__ import annotations

from crypto import passwords as key_locking
from crypto.keys import KeyPair, fingerprint

from . import audit, errors, passwords
from .clock import now
from .db import Database
from .models import Caseworker
from .staff_login import Logins
from .staff_throttle import clear_failures, minutes_locked, register_failure


class WrongPassword(errors.Refused):
    """The current password given to change it is wrong (and counted as a failed login)."""


class Paused(WrongPassword):
    """So many wrong current passwords that the account is paused: whoever sits at this session
    is guessing, and every session of the account should end."""


class KeyChanged(errors.Conflict):
    """The account's key changed since this session unlocked it."""


def key_fingerprint(worker: Caseworker) -> str:
    """The account's public key as people compare it (shown on the account page)."""
    return fingerprint(worker.public_key)


def change_password(logins: Logins, worker: Caseworker, owner: KeyPair, current: str, new: str) -> None:
    """Re-hash the password and re-lock the private key under it. Raises passwords.WeakPassword,
    WrongPassword, Paused, KeyChanged or staff_throttle.Busy; the caller ends the sessions."""
    passwords.check_strength(new)
    refusal: WrongPassword | None = None
    with logins.slots.take(trusted=True), logins.serialise(worker.username), logins.db.session() as session:
        row = session.get_one(Caseworker, worker.id)
        if row.key_id != owner.id.hex():
            raise KeyChanged("the account's key changed meanwhile")
        if passwords.verify_password(row.password_hash, current):
            row.password_hash = passwords.hash_password(new, logins.params)
            row.locked_private_key = key_locking.lock(owner, new, logins.params)
            clear_failures(row)
            audit.record(session, "account.password", actor_id=row.id, detail=row.username)
        else:
            # Committed, not rolled back: the failure counts as a failed login does.
            register_failure(row, now())
            audit.record(session, "account.password_failure", actor_id=row.id, detail=row.username)
            paused = minutes_locked(row, now())
            refusal = Paused("the account is paused") if paused else WrongPassword("the current password is wrong")
    if refusal is not None:
        raise refusal


def save_preferences(db: Database, worker_id: int, language: str, email: str | None) -> tuple[Caseworker, bool]:
    """Store them; returns the account (detached) and whether anything changed."""
    with db.session() as session:
        worker = session.get_one(Caseworker, worker_id)
        before = {"language": worker.language, "email": worker.email}
        worker.language, worker.email = language, email
        changed = [name for name, value in before.items() if value != getattr(worker, name)]
        if changed:
            # Which settings changed, not their values.
            audit.record(
                session, "account.change", actor_id=worker.id, detail=f"{worker.username}: {', '.join(changed)}"
            )
        session.flush()
        session.expunge(worker)
    return worker, bool(changed)
