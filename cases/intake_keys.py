"""Public intake keys: which one new reports are sealed to. No private key is touched here,
which is why the intake app may import this module."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.keys import fingerprint

from . import errors
from .db import Database
from .models import IntakeKey


class NoIntakeKey(errors.ConfigError):
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


@dataclass(frozen=True)
class Published:
    """The current intake key as the intake shows it: browsers seal to it, people compare it."""

    id: str
    public_key: bytes

    @property
    def text(self) -> str:
        return base64.urlsafe_b64encode(self.public_key).rstrip(b"=").decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


def published(db: Database) -> Published:
    """The key new reports are sealed to; raises NoIntakeKey before ``reprisals init``."""
    with db.session() as session:
        key = current(session)
        return Published(key.id, key.public_key)
