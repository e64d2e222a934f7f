"""P-256 key pairs: generation, serialisation, key ids and human-comparable fingerprints.

Public keys travel as the 65-byte uncompressed point (RFC 9180's SerializePublicKey) and private
keys as the 32-byte big-endian scalar, which is what both WebCrypto and ``cryptography`` accept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import CryptoError
from .suite import ENC_LEN, SCALAR_LEN

KEY_ID_LEN = 8
_CURVE = ec.SECP256R1()
# Group order of P-256, for mapping uniform bytes onto a scalar (FIPS 186-5, A.2.1).
_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


def public_bytes(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def load_public(data: bytes) -> PublicKey:
    if len(data) != ENC_LEN or data[0] != 0x04:
        raise CryptoError("a public key must be a 65-byte uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, data)
    except ValueError as exc:
        raise CryptoError("not a point on P-256") from exc


def private_bytes(private_key: PrivateKey) -> bytes:
    return private_key.private_numbers().private_value.to_bytes(SCALAR_LEN, "big")


def load_private(scalar: bytes) -> PrivateKey:
    if len(scalar) != SCALAR_LEN:
        raise CryptoError("a private key must be a 32-byte P-256 scalar")
    value = int.from_bytes(scalar, "big")
    if not 0 < value < _ORDER:
        raise CryptoError("private scalar out of range")
    return ec.derive_private_key(value, _CURVE)


def generate() -> PrivateKey:
    return ec.generate_private_key(_CURVE)


def derive_from_seed(seed: bytes) -> PrivateKey:
    """A key pair from >= 48 uniform bytes: (seed mod (n-1)) + 1, FIPS 186-5 A.2.1.

    Used for the reporter key, which must be re-derivable from the token alone.
    """
    if len(seed) < 48:
        raise CryptoError("seed too short for an unbiased P-256 scalar")
    value = int.from_bytes(seed, "big") % (_ORDER - 1) + 1
    return ec.derive_private_key(value, _CURVE)


def key_id(public: bytes) -> bytes:
    """First 8 bytes of SHA-256 over the serialised public key."""
    return hashlib.sha256(public).digest()[:KEY_ID_LEN]


def fingerprint(public: bytes) -> str:
    """What two people read to each other to compare a key: 8 groups of 4 hex digits.

    It begins with the key id, so the id shown in lists is a prefix of the fingerprint.
    """
    digest = hashlib.sha256(public).hexdigest().upper()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class KeyPair:
    """A private key with its serialised public half and id precomputed."""

    private: PrivateKey
    public: bytes
    id: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(generate())

    @classmethod
    def from_private(cls, private: PrivateKey) -> KeyPair:
        public = public_bytes(private.public_key())
        return cls(private=private, public=public, id=key_id(public))

    @classmethod
    def from_scalar(cls, scalar: bytes) -> KeyPair:
        return cls.from_private(load_private(scalar))

    @property
    def scalar(self) -> bytes:
        return private_bytes(self.private)
