"""Private keys, in memory only: unlocking a caseworker, granting and wrapping intake keys.

Caseworker side and CLI only. The intake app never imports this module; tests/test_intake_keys
proves it cannot reach any private key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import keywrap, passwords
from crypto.errors import CryptoError
from crypto.keys import KeyPair, PrivateKey, key_id

from .models import Caseworker, Setting, WrappedKey

RECOVERY_PUBLIC = "recovery_public_key"


@dataclass
class Keyring:
    """The intake private keys a person has unlocked, by key id (bytes)."""

    owner: KeyPair
    intake: dict[bytes, KeyPair] = field(default_factory=dict)

    def private_keys(self) -> dict[bytes, PrivateKey]:
        return {kid: pair.private for kid, pair in self.intake.items()}

    def forget(self) -> None:
        """Drop every reference we hold (Python cannot wipe memory; this is the best we can do)."""
        self.intake.clear()


def _wraps_to(session: Session, owner: KeyPair) -> list[WrappedKey]:
    return list(session.scalars(select(WrappedKey).where(WrappedKey.recipient_key_id == owner.id.hex())))


def _add(ring: Keyring, wraps: list[WrappedKey]) -> None:
    for wrapped in wraps:
        pair = keywrap.unwrap(wrapped.envelope, ring.owner, bytes.fromhex(wrapped.intake_key_id))
        ring.intake[pair.id] = pair


def _unwrap_all(session: Session, owner: KeyPair) -> Keyring:
    ring = Keyring(owner=owner)
    _add(ring, _wraps_to(session, owner))
    return ring


def with_new_wraps(session: Session, ring: Keyring) -> Keyring:
    """``ring`` itself if it holds every intake key wrapped to its owner; else a new Keyring that
    also holds the ones wrapped since (``ring`` is left as it was, for whoever still uses it)."""
    missing = [w for w in _wraps_to(session, ring.owner) if bytes.fromhex(w.intake_key_id) not in ring.intake]
    if not missing:
        return ring
    fresh = Keyring(owner=ring.owner, intake=dict(ring.intake))
    _add(fresh, missing)
    return fresh


def unlock(session: Session, caseworker: Caseworker, password: str) -> Keyring:
    """Raises crypto.errors.BadPassword on a wrong password."""
    owner = passwords.unlock(caseworker.locked_private_key, password, bytes.fromhex(caseworker.key_id))
    return _unwrap_all(session, owner)


def recovery_public(session: Session) -> bytes:
    setting = session.get(Setting, RECOVERY_PUBLIC)
    if setting is None:
        raise CryptoError("no recovery key is registered")
    return bytes.fromhex(setting.value)


def unlock_with_recovery(session: Session, recovery_text: str) -> Keyring:
    owner = passwords.parse_recovery_text(recovery_text)
    if owner.public != recovery_public(session):
        raise CryptoError("this is not this installation's recovery key")
    return _unwrap_all(session, owner)


def store_wrap(session: Session, intake: KeyPair, recipient_public: bytes, caseworker_id: int | None) -> None:
    session.add(
        WrappedKey(
            intake_key_id=intake.id.hex(),
            recipient_key_id=key_id(recipient_public).hex(),
            caseworker_id=caseworker_id,
            envelope=keywrap.wrap(intake, recipient_public),
        )
    )


def grant(session: Session, ring: Keyring, caseworker: Caseworker) -> int:
    """Wrap every intake key the ring holds to ``caseworker``; returns how many were new."""
    have = set(
        session.scalars(select(WrappedKey.intake_key_id).where(WrappedKey.recipient_key_id == caseworker.key_id))
    )
    added = 0
    for pair in ring.intake.values():
        if pair.id.hex() not in have:
            store_wrap(session, pair, caseworker.public_key, caseworker.id)
            added += 1
    return added


def intake_key_holders(session: Session, intake_key_id: str) -> list[Caseworker]:
    """Enabled caseworkers holding a wrap of the given intake key (they get its successor)."""
    ids = select(WrappedKey.caseworker_id).where(
        WrappedKey.caseworker_id.is_not(None), WrappedKey.intake_key_id == intake_key_id
    )
    return list(session.scalars(select(Caseworker).where(Caseworker.id.in_(ids), Caseworker.disabled.is_(False))))
