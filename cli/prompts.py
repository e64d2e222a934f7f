"""Asking people for passwords: hidden on a terminal, one line each from a pipe (scripts, tests)."""

from __future__ import annotations

import getpass
import sys

from cases import errors
from cases.passwords import WeakPassword, check_strength


class UserError(errors.DomainError):
    """A mistake the person can fix; printed as one line, exit status 2."""


def _read(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise UserError(f"expected a line on standard input for: {prompt.strip()}")
    return line.rstrip("\r\n")


def new_password(who: str) -> str:
    password = _read(f"New password for {who}: ")
    try:
        check_strength(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None
    if sys.stdin.isatty() and getpass.getpass("Repeat it: ") != password:
        raise UserError("the two passwords differ")
    return password


def existing_password(who: str) -> str:
    return _read(f"Password for {who}: ")


def secret_line(prompt: str) -> str:
    return _read(prompt)
