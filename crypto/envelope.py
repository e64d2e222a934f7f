"""Sealed envelopes: RFC 9180 HPKE base mode, single shot, with a small self-describing header.

Layout (docs/protocol.md, "Envelope")::

    0   4   magic and version  52 52 45 01 ("RRE", 1)
    4   1   purpose code
    5   8   recipient key id
    13  65  enc (ephemeral public key)
    78  ..  AES-256-GCM ciphertext and tag

The HPKE ``info`` is ``header || purpose label || 0x00 || context``. Binding the header and the
purpose into ``info`` means an envelope sealed for one purpose or recipient can never be opened
as another: the AEAD tag fails. Callers that know more (a case id, say) pass it as ``context``
and get the same guarantee for it. The header copy of the purpose and key id only exists to give
clear errors and to pick the right private key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from .errors import OpenError, UnknownKey, WrongPurpose
from .keys import KEY_ID_LEN, PrivateKey, key_id, load_public, public_bytes
from .suite import ENC_LEN, SUITE, TAG_LEN

MAGIC = b"RRE\x01"
HEADER_LEN = len(MAGIC) + 1 + KEY_ID_LEN
OVERHEAD = HEADER_LEN + ENC_LEN + TAG_LEN


class Purpose(enum.IntEnum):
    """What an envelope is for; the label goes into the HPKE info."""

    REPORT = 1
    MESSAGE = 2
    ATTACHMENT_MANIFEST = 3
    REPLY = 4
    NOTE = 5
    KEY_WRAP = 6
    TRIAGE = 7
    DETAILS = 8  # answers a reporter added after the report (docs/protocol.md §14.8)

    @property
    def label(self) -> bytes:
        return self.name.lower().replace("_", "-").encode("ascii")


@dataclass(frozen=True)
class Header:
    purpose: Purpose
    key_id: bytes


def _header(purpose: Purpose, recipient_id: bytes) -> bytes:
    return MAGIC + bytes([purpose]) + recipient_id


def _info(header: bytes, purpose: Purpose, context: bytes) -> bytes:
    return header + purpose.label + b"\x00" + context


def seal(recipient_public: bytes, purpose: Purpose, plaintext: bytes, context: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` to the holder of ``recipient_public`` (65-byte point)."""
    public_key = load_public(recipient_public)
    header = _header(purpose, key_id(recipient_public))
    return header + SUITE.encrypt(plaintext, public_key, info=_info(header, purpose, context))


def read_header(envelope: bytes) -> Header:
    """Parse the clear header without decrypting; raises OpenError if it is not an envelope."""
    if envelope[:3] != MAGIC[:3]:
        raise OpenError("not a sealed envelope (bad magic)")
    if envelope[:4] != MAGIC:
        raise OpenError(f"unsupported envelope version {envelope[3] if len(envelope) > 3 else '?'}")
    if len(envelope) < OVERHEAD:
        raise OpenError(f"envelope is truncated ({len(envelope)} bytes, at least {OVERHEAD} expected)")
    try:
        purpose = Purpose(envelope[4])
    except ValueError:
        raise OpenError(f"unknown envelope purpose code {envelope[4]}") from None
    return Header(purpose=purpose, key_id=bytes(envelope[5:HEADER_LEN]))


def open_envelope(
    private_keys: PrivateKey | dict[bytes, PrivateKey],
    purpose: Purpose,
    envelope: bytes,
    context: bytes = b"",
) -> bytes:
    """Decrypt an envelope expected to be for ``purpose``.

    ``private_keys`` is one key or a mapping of key id to key (e.g. every intake key, current and
    retired). Raises WrongPurpose, UnknownKey or OpenError; never returns unauthenticated bytes.
    """
    header = read_header(envelope)
    if header.purpose != purpose:
        raise WrongPurpose(f"envelope is a {header.purpose.label.decode()}, expected a {purpose.label.decode()}")
    if isinstance(private_keys, dict):
        private = private_keys.get(header.key_id)
        if private is None:
            raise UnknownKey(f"no private key with id {header.key_id.hex()}")
    else:
        private = private_keys
        if key_id(public_bytes(private.public_key())) != header.key_id:
            raise UnknownKey(f"envelope is for key {header.key_id.hex()}, not this key")
    info = _info(bytes(envelope[:HEADER_LEN]), purpose, context)
    try:
        return SUITE.decrypt(bytes(envelope[HEADER_LEN:]), private, info=info)
    except (InvalidTag, ValueError) as exc:
        raise OpenError("envelope failed authentication: tampered, truncated or bound to another context") from exc
