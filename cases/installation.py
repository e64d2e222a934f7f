"""Setting up an installation and managing its keys and staff accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import passwords as key_locking
from crypto.kdf import Argon2Params
from crypto.keys import KeyPair, fingerprint

from . import errors, keyring, tokens
from .clock import today
from .intake_keys import current
from .models import Caseworker, IntakeKey, Role, Setting
from .passwords import check_strength, hash_password


class AlreadyInitialised(errors.Conflict):
    pass


class UserExists(errors.Conflict):
    pass


@dataclass(frozen=True)
class InitResult:
    recovery_text: str  # shown once, never stored
    intake_fingerprint: str
    admin: Caseworker


def is_initialised(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(IntakeKey)) or 0) > 0


def create_caseworker(session: Session, username: str, password: str, role: Role, params: Argon2Params) -> Caseworker:
    """A new account with its own key pair; it holds no intake key until granted."""
    username = username.strip()
    if not username or len(username) > 64:
        raise errors.Invalid("a username needs 1 to 64 characters")
    check_strength(password)
    if session.scalar(select(Caseworker).where(Caseworker.username == username)):
        raise UserExists(f"a caseworker named {username!r} already exists")
    pair = KeyPair.generate()
    worker = Caseworker(
        username=username,
        password_hash=hash_password(password, params),
        role=role,
        key_id=pair.id.hex(),
        public_key=pair.public,
        locked_private_key=key_locking.lock(pair, password, params),
        created_on=today(),
    )
    session.add(worker)
    try:
        session.flush()
    except IntegrityError:  # the same name added at the same moment by someone else
        raise UserExists(f"a caseworker named {username!r} already exists") from None
    return worker


def _add_intake_key(session: Session, recipients: list[tuple[bytes, int | None]]) -> KeyPair:
    """Make an intake key and wrap it to each (public key, caseworker id); it lives nowhere else."""
    pair = KeyPair.generate()
    session.add(IntakeKey(id=pair.id.hex(), public_key=pair.public, created_on=today()))
    session.flush()
    for public, caseworker_id in recipients:
        keyring.store_wrap(session, pair, public, caseworker_id)
    return pair


def initialise(session: Session, admin_username: str, admin_password: str, params: Argon2Params) -> InitResult:
    if is_initialised(session):
        raise AlreadyInitialised("this installation is already initialised")
    admin = create_caseworker(session, admin_username, admin_password, Role.ADMIN, params)
    recovery = KeyPair.generate()
    session.add(Setting(key=keyring.RECOVERY_PUBLIC, value=recovery.public.hex()))
    tokens.record_params(session, params)
    intake = _add_intake_key(session, [(admin.public_key, admin.id), (recovery.public, None)])
    return InitResult(
        recovery_text=key_locking.recovery_text(recovery),
        intake_fingerprint=fingerprint(intake.public),
        admin=admin,
    )


def rotate_intake_key(session: Session) -> IntakeKey:
    """Retire the current intake key and make a new one.

    Needs no private key: the new key is wrapped to the public keys of everyone who holds the
    current one, and to the recovery key. Old keys stay wrapped, so old cases stay readable.
    """
    old = current(session)
    recipients: list[tuple[bytes, int | None]] = [
        (w.public_key, w.id) for w in keyring.intake_key_holders(session, old.id)
    ]
    recipients.append((keyring.recovery_public(session), None))
    pair = _add_intake_key(session, recipients)
    old.retired_on = today()
    return session.get_one(IntakeKey, pair.id.hex())
