"""Public intake keys: which one new reports are sealed to. No private key is touched here,
which is why the intake app may import this module."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.keys import fingerprint

from .models import IntakeKey


class NoIntakeKey(Exception):
    """The installation has not been initialised."""


def current(session: Session) -> IntakeKey:
    key = session.scalars(
        select(IntakeKey).where(IntakeKey.retired_on.is_(None)).order_by(IntakeKey.created_on.desc()).limit(1)
    ).first()
    if key is None:
        raise NoIntakeKey("no active intake key: run 'reprisals init'")
    return key


def describe(key: IntakeKey) -> str:
    return f"{key.id} ({fingerprint(key.public_key)})"
