"""Receipt boxes: the token, encrypted under a key only the submitting client's nonce gives.

A double-tapped or retried submission must show the reporter the *same* token, but the server
keeps no token. So it keeps the token encrypted under HKDF(client nonce); the nonce itself is
never stored (only its SHA-256, to find the case), so the box is useless to anyone without the
request that created it.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import OpenError


def _key(client_nonce: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"rri/v1 receipt box").derive(client_nonce.encode())


def seal_receipt(client_nonce: str, token: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_key(client_nonce)).encrypt(nonce, token.encode(), b"rri/v1 receipt")


def open_receipt(client_nonce: str, box: bytes) -> str:
    try:
        return AESGCM(_key(client_nonce)).decrypt(box[:12], box[12:], b"rri/v1 receipt").decode()
    except (InvalidTag, ValueError) as exc:
        raise OpenError("receipt box does not open with this submission id") from exc
