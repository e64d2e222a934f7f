"""The second factor: RFC 6238 codes (SHA-1, 6 digits, 30 s), as every authenticator app makes.

The shared secret is stored only sealed to the caseworker's own public key (purpose key-wrap,
context ``"totp:" || key id``; an intake-key wrap's context is a bare 8-byte id, so neither can
pass for the other). It can therefore be read only after the password has unlocked the private
key: a copy of the database yields neither factor.
"""

from __future__ import annotations

import base64
import math
import os
import re
import threading
import time

import qrcode
import qrcode.image.svg
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from crypto.envelope import Purpose, open_envelope, seal
from crypto.keys import KeyPair, key_id

ISSUER = "Reprisal desk"
DIGITS = 6
STEP = 30
SECRET_BYTES = 20  # RFC 4226 recommends 160 bits for HMAC-SHA1
WINDOW = (0, -1, 1)  # this step first, then one either side for clock drift
_CODE = re.compile(r"[0-9]{6}")


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, SHA1(), STEP)  # noqa: S303 - RFC 6238 default; what every app uses


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def text_form(secret: bytes) -> str:
    """Base32 in groups of four, for typing into an app by hand."""
    raw = base64.b32encode(secret).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def provisioning_uri(secret: bytes, username: str) -> str:
    return _totp(secret).get_provisioning_uri(username, ISSUER)


def qr_svg(uri: str) -> bytes:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=4)
    svg: bytes = image.to_string(encoding="utf-8")  # qrcode is untyped
    return svg


def _context(public_key: bytes) -> bytes:
    return b"totp:" + key_id(public_key)


def seal_secret(public_key: bytes, secret: bytes) -> bytes:
    return seal(public_key, Purpose.KEY_WRAP, secret, context=_context(public_key))


def open_secret(owner: KeyPair, sealed: bytes) -> bytes:
    return open_envelope(owner.private, Purpose.KEY_WRAP, sealed, context=_context(owner.public))


def current_code(secret: bytes) -> str:
    """The code an authenticator app shows now (for tests and the demo)."""
    return _totp(secret).generate(time.time()).decode()


def normalise(code: str) -> str | None:
    """Six digits, spaces allowed ("123 456"); None for anything else."""
    cleaned = "".join(code.split())
    return cleaned if _CODE.fullmatch(cleaned) else None


def matching_step(secret: bytes, code: str, at: float | None = None) -> int | None:
    """The time step (counter) whose code this is, within one step of ``at``; else None."""
    cleaned = normalise(code)
    if cleaned is None:
        return None
    at = time.time() if at is None else at
    totp = _totp(secret)
    for offset in WINDOW:
        moment = at + offset * STEP
        try:
            totp.verify(cleaned.encode(), int(moment))  # constant-time comparison inside
        except InvalidToken:
            continue
        return math.floor(moment / STEP)
    return None


class ReplayGuard:
    """The last accepted time step per caseworker, so a code seen over a shoulder or in a proxy
    log cannot be used a second time. In memory: the desk runs as one process (its unlocked keys
    live there too)."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self._lock = threading.Lock()

    def accept(self, caseworker_id: int, secret: bytes, code: str, at: float | None = None) -> bool:
        step = matching_step(secret, code, at)
        if step is None:
            return False
        with self._lock:
            if step <= self._last.get(caseworker_id, -1):
                return False
            self._last[caseworker_id] = step
        return True
