"""What a submission's client nonce unlocks: its receipt box and its files' upload capabilities.

A double-tapped or retried submission must show the reporter the *same* token and the *same*
live upload capabilities, but the server keeps neither. So it keeps the token encrypted under
HKDF(client nonce), and derives each file's upload secret from the nonce and the file's id; the
nonce itself is never stored (only its SHA-256, to find the case), so neither is of use to anyone
without the request that created them, and a repeat recomputes them without rewriting anything.

The nonce is the only secret here, so it must be long enough not to be guessed: 22 to 64
base64url characters (at least 128 bits), anything else is refused. A receipt box also holds an
expiry, so the token is shown again to a repeat of the submit only for a while (a double tap, a
lost answer), not to whoever later finds the form in the browser history and sends it again.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import OpenError

SHOW_AGAIN_SECONDS = 30 * 60
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")
_EXPIRY = struct.Struct(">Q")
_AAD = b"rri/v1 receipt, expiring"  # boxes without an expiry (older) never open under this


def valid_nonce(client_nonce: object) -> bool:
    return isinstance(client_nonce, str) and _NONCE.fullmatch(client_nonce) is not None


def _derive(client_nonce: str, info: bytes, length: int) -> bytes:
    if not valid_nonce(client_nonce):
        raise ValueError("a submission nonce is 22 to 64 base64url characters")
    return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(client_nonce.encode())


def seal_receipt(client_nonce: str, token: str, now: float | None = None) -> bytes:
    expires = int((time.time() if now is None else now) + SHOW_AGAIN_SECONDS)
    nonce = os.urandom(12)
    sealed = AESGCM(_derive(client_nonce, b"rri/v1 receipt box", 32)).encrypt(
        nonce, _EXPIRY.pack(expires) + token.encode(), _AAD
    )
    return nonce + sealed


def open_receipt(client_nonce: str, box: bytes, now: float | None = None) -> str | None:
    """The token, or None once the box has expired; OpenError if the nonce does not open it."""
    try:
        plain = AESGCM(_derive(client_nonce, b"rri/v1 receipt box", 32)).decrypt(box[:12], box[12:], _AAD)
    except (InvalidTag, ValueError) as exc:
        raise OpenError("receipt box does not open with this submission id") from exc
    (expires,) = _EXPIRY.unpack_from(plain)
    if (time.time() if now is None else now) > expires:
        return None
    return plain[_EXPIRY.size :].decode()


def upload_secret(client_nonce: str, attachment_id: str) -> str:
    """The capability for sending one file's chunks, the same for every repeat of the submit."""
    raw = _derive(client_nonce, b"rri/v1 upload secret " + attachment_id.encode(), 24)
    return base64.urlsafe_b64encode(raw).decode()
