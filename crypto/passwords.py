"""Private keys protected by a person's password, and the offline recovery key's text form.

Locked key layout (docs/protocol.md, "Locked private key")::

    0   4   magic "RLK" 01
    4   4   argon2id time cost, big-endian
    8   4   argon2id memory in KiB, big-endian
    12  1   argon2id parallelism
    13  16  salt (random; not the password hash's salt)
    29  12  AES-GCM nonce
    41  48  AES-256-GCM(KEK, scalar), AAD = bytes 0..40 || key id

The parameters live in the blob so they can be raised later without breaking old keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import BadPassword, CryptoError
from .kdf import Argon2Params
from .keys import KeyPair

_MAGIC = b"RLK\x01"
_PREFIX = struct.Struct(">4sIIB16s12s")


def _password_bytes(password: str) -> bytes:
    # NFC, so the same password typed on another keyboard or OS (composed vs decomposed
    # accents, Arabic presentation) still unlocks the key.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def lock(pair: KeyPair, password: str, params: Argon2Params) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    prefix = _PREFIX.pack(_MAGIC, params.time_cost, params.memory_kib, params.parallelism, salt, nonce)
    kek = params.derive(_password_bytes(password), salt)
    return prefix + AESGCM(kek).encrypt(nonce, pair.scalar, prefix + pair.id)


def unlock(locked: bytes, password: str, key_id: bytes) -> KeyPair:
    """Recover the key pair; BadPassword if the password (or the blob) is wrong."""
    if len(locked) != _PREFIX.size + 48 or locked[:4] != _MAGIC:
        raise CryptoError("not a locked private key")
    _magic, t, m, p, salt, nonce = _PREFIX.unpack(locked[: _PREFIX.size])
    kek = Argon2Params(t, m, p).derive(_password_bytes(password), salt)
    try:
        scalar = AESGCM(kek).decrypt(nonce, locked[_PREFIX.size :], locked[: _PREFIX.size] + key_id)
    except InvalidTag:
        raise BadPassword("wrong password") from None
    pair = KeyPair.from_scalar(scalar)
    if pair.id != key_id:
        raise CryptoError("locked key does not match its public key")
    return pair


# Recovery key text: base32(scalar || 3-byte checksum), in groups of four, so a typo in a key
# copied from paper is caught before any decryption is tried.
_CONFUSABLE = str.maketrans({"0": "O", "1": "I", "8": "B"})


def _checksum(scalar: bytes) -> bytes:
    return hashlib.sha256(b"rri/v1 recovery key" + scalar).digest()[:3]


def recovery_text(pair: KeyPair) -> str:
    raw = base64.b32encode(pair.scalar + _checksum(pair.scalar)).decode().rstrip("=")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def parse_recovery_text(text: str) -> KeyPair:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum()).translate(_CONFUSABLE)
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raise CryptoError("recovery key contains characters that are not in it") from None
    if len(raw) != 35 or _checksum(raw[:32]) != raw[32:]:
        raise CryptoError("recovery key has a typo: check it against the printed copy")
    return KeyPair.from_scalar(raw[:32])
