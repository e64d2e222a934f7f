"""The inbox index entry format (docs/protocol.md §14.7): a symmetric cache of what the inbox
sorts and filters on, so a load does not cost one HPKE open per case.

    index key = HKDF-SHA256(ikm = scalar of the installation's first intake key, salt = none,
                            info = "rri/v1 inbox index", 32)
    entry     = nonce(12) || AES-256-GCM(index key, nonce, UTF-8 JSON,
                                         AAD = "rri/v1 index " || case id)

The AAD binds an entry to its case: a blob copied onto another case does not open. What the
JSON holds, and which key is "first", is the domain's business (cases.inbox_index).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import OpenError

INFO = b"rri/v1 inbox index"
AAD_PREFIX = b"rri/v1 index "
KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16


def derive_key(scalar: bytes) -> bytes:
    """The index key from the first intake key's private scalar."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=INFO).derive(scalar)


def aad(case_id: str) -> bytes:
    return AAD_PREFIX + case_id.encode("ascii")


class EntryCipher:
    """Seals and opens entries under one index key (one AES-GCM context for a whole inbox)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_LEN:
            raise ValueError("the index key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, case_id: str, body: bytes, nonce: bytes | None = None) -> bytes:
        """``nonce`` only for test vectors; a fresh random one otherwise."""
        if nonce is None:
            nonce = os.urandom(NONCE_LEN)
        elif len(nonce) != NONCE_LEN:
            raise ValueError("the nonce is 12 bytes")
        return nonce + self._aead.encrypt(nonce, body, aad(case_id))

    def open(self, case_id: str, blob: bytes) -> bytes:
        """The entry's bytes; OpenError if it was sealed under another key, for another case, or
        altered."""
        if len(blob) < NONCE_LEN + TAG_LEN:
            raise OpenError("index entry too short")
        try:
            return self._aead.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad(case_id))
        except InvalidTag:
            raise OpenError("index entry does not open with this key for this case") from None


def seal_entry(key: bytes, case_id: str, body: bytes, nonce: bytes | None = None) -> bytes:
    return EntryCipher(key).seal(case_id, body, nonce)


def open_entry(key: bytes, case_id: str, blob: bytes) -> bytes:
    return EntryCipher(key).open(case_id, blob)
