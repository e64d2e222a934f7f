"""Caseworker password hashing (argon2-cffi's PasswordHasher) at the configured cost."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from crypto.kdf import Argon2Params

from . import errors

MIN_PASSWORD_LENGTH = 12


class WeakPassword(errors.Invalid):
    pass


def hasher(params: Argon2Params) -> PasswordHasher:
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism)


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def hash_password(password: str, params: Argon2Params) -> str:
    return hasher(params).hash(_normalise(password))


def verify_password(stored: str, password: str) -> bool:
    # The stored hash carries its own parameters, so any hasher instance verifies it.
    try:
        return PasswordHasher().verify(stored, _normalise(password))
    except (VerificationError, InvalidHashError):
        return False
