"""People and keys, as admins manage them: add, disable and re-enable accounts, give them the
intake keys from the admin's own unlocked session, reset a lost authenticator, rotate the
intake key.

A disabled person still holds wraps of every intake key they were given, which a copy of the
database would let them use; rotating the intake key is what keeps them out of reports that
arrive afterwards (it cannot take back what they could already read).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto.kdf import Argon2Params
from crypto.keys import fingerprint

from . import audit, errors, installation, keyring, staff_sessions
from .db import Database
from .intake_keys import current
from .keyring import Keyring
from .models import Caseworker, IntakeKey, Role, WrappedKey
from .staff_sessions import KeyVault

# No look-alikes (0/o, 1/l/i), so a password read aloud or copied from paper comes out right.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class NoSuchPerson(errors.NotFound):
    pass


class NotGrantable(errors.Refused):
    """This account may not receive intake keys; the message says why."""


class OwnAccount(errors.Refused):
    pass


def generate_password() -> str:
    """Five groups of five (about 123 bits): shown once to the admin, to hand over in person."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(5))
    return "-".join(groups)


@dataclass(frozen=True)
class Person:
    worker: Caseworker
    keys_held: int
    has_current: bool


@dataclass(frozen=True)
class HeldKey:
    key: IntakeKey
    fingerprint: str
    holders: int


@dataclass(frozen=True)
class Overview:
    """What the people page shows (detached from the database session)."""

    people: list[Person]
    intake_keys: list[HeldKey]
    current_key: IntakeKey


def overview(db: Database) -> Overview:
    with db.session() as session:
        key = current(session)
        result = Overview(_people(session, key.id), _intake_keys(session), key)
        session.expunge_all()
    return result


def _people(session: Session, current_id: str) -> list[Person]:
    held: dict[str, set[str]] = {}
    for recipient, intake_id in session.execute(select(WrappedKey.recipient_key_id, WrappedKey.intake_key_id)):
        held.setdefault(recipient, set()).add(intake_id)
    workers = session.scalars(select(Caseworker).order_by(Caseworker.username))
    return [Person(w, len(held.get(w.key_id, ())), current_id in held.get(w.key_id, set())) for w in workers]


def _intake_keys(session: Session) -> list[HeldKey]:
    counts = (
        select(WrappedKey.intake_key_id, func.count())
        .where(WrappedKey.caseworker_id.is_not(None))
        .group_by(WrappedKey.intake_key_id)
    )
    holders = {key_id: count for key_id, count in session.execute(counts)}
    keys = session.scalars(select(IntakeKey).order_by(IntakeKey.created_on.desc(), IntakeKey.id))
    return [HeldKey(k, fingerprint(k.public_key), holders.get(k.id, 0)) for k in keys]


def _refusal(worker: Caseworker) -> str | None:
    """Why this account may not receive intake keys, or None."""
    if worker.disabled:
        return f"{worker.username} is disabled."
    if worker.role == Role.ANALYST:
        return "Analysts see statistics only and never hold intake keys."
    return None


def _grant(session: Session, actor: Caseworker, ring: Keyring, worker: Caseworker) -> int:
    added = keyring.grant(session, ring, worker)
    audit.record(session, "key.grant", actor_id=actor.id, detail=f"{worker.username}: {added} intake keys")
    return added


def add(
    db: Database,
    params: Argon2Params,
    actor: Caseworker,
    ring: Keyring | None,
    username: str,
    password: str,
    role: Role,
) -> int | None:
    """A new account; with ``ring``, it also gets those intake keys if its role may hold them.
    Returns how many keys it got (None: none offered or not grantable). Raises errors.Invalid
    (passwords.WeakPassword among them) or installation.UserExists."""
    with db.session() as session:
        worker = installation.create_caseworker(session, username, password, role, params)
        audit.record(session, "caseworker.add", actor_id=actor.id, detail=f"{worker.username} as {role.value}")
        if ring is None or _refusal(worker):
            return None
        return _grant(session, actor, ring, worker)


def _locked(session: Session, worker_id: int) -> Caseworker:
    # Locked: two admins acting on one account at once take turns (no duplicate key wrap, and
    # the stored state is the one the last audited request set).
    worker = session.get(Caseworker, worker_id, with_for_update=True)
    if worker is None:
        raise NoSuchPerson("no such account")
    return worker


def grant(db: Database, vault: KeyVault, actor: Caseworker, ring: Keyring, worker_id: int) -> tuple[str, int]:
    """Wrap the admin's intake keys to the account; its open sessions get them at once. Returns
    its user name and how many keys were new; raises NotGrantable or NoSuchPerson. The sessions
    whose keyring was replaced (the admin's own, possibly) are in ``vault``."""
    with db.session() as session:
        worker = _locked(session, worker_id)
        refusal = _refusal(worker)
        if refusal:
            raise NotGrantable(refusal)
        added = _grant(session, actor, ring, worker)
        session.flush()
        staff_sessions.refresh(session, vault, worker.id)
        return worker.username, added


def rotate(db: Database, vault: KeyVault, actor: Caseworker) -> str:
    """A new intake key for new reports, given at once to every open session of its holders;
    returns its id."""
    with db.session() as session:
        old = current(session).id
        new = installation.rotate_intake_key(session)
        audit.record(session, "intake_key.rotate", actor_id=actor.id, detail=f"{old} -> {new.id}")
        session.flush()
        staff_sessions.refresh(session, vault)
        return new.id


def disable(db: Database, vault: KeyVault, actor: Caseworker, worker_id: int) -> Caseworker:
    """Disable the account and end its sessions; returns it (detached). Raises OwnAccount."""
    if worker_id == actor.id:
        raise OwnAccount("you cannot disable your own account")
    with db.session() as session:
        worker = _locked(session, worker_id)
        worker.disabled = True
        audit.record(session, "caseworker.disable", actor_id=actor.id, detail=worker.username)
        session.flush()
        session.expunge(worker)
    staff_sessions.end_all_for(db, vault, worker_id)  # after the commit: their next request finds no session
    return worker


def enable(db: Database, actor: Caseworker, worker_id: int) -> str:
    """Enable the account (and forgive its failed logins); returns its user name."""
    with db.session() as session:
        worker = _locked(session, worker_id)
        worker.disabled = False
        worker.failed_logins, worker.locked_until = 0, None
        audit.record(session, "caseworker.enable", actor_id=actor.id, detail=worker.username)
        return worker.username


def reset_authenticator(db: Database, vault: KeyVault, actor: Caseworker, worker_id: int) -> str:
    """For a lost phone: the next login with the password sets up a new authenticator. Ends the
    account's sessions; returns its user name."""
    with db.session() as session:
        worker = _locked(session, worker_id)
        worker.totp_secret = None
        audit.record(session, "totp.reset", actor_id=actor.id, detail=worker.username)
        username = worker.username
    staff_sessions.end_all_for(db, vault, worker_id)
    return username
