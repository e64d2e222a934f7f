"""Wrapping one private key to another key's public half (intake keys to caseworkers/recovery).

A wrapped key is an ordinary envelope with purpose ``key-wrap`` whose context is the wrapped
key's id, so a wrap of key A can never be passed off as a wrap of key B.
"""

from __future__ import annotations

from .envelope import Purpose, open_envelope, seal
from .errors import OpenError
from .keys import KeyPair


def wrap(pair: KeyPair, recipient_public: bytes) -> bytes:
    return seal(recipient_public, Purpose.KEY_WRAP, pair.scalar, context=pair.id)


def unwrap(envelope: bytes, recipient: KeyPair, wrapped_id: bytes) -> KeyPair:
    pair = KeyPair.from_scalar(open_envelope(recipient.private, Purpose.KEY_WRAP, envelope, context=wrapped_id))
    if pair.id != wrapped_id:
        raise OpenError("unwrapped key does not match its id")
    return pair
