"""Reporter tokens: 20 digits (19 random + a Damm check digit), and what is derived from them.

The token is the reporter's only credential. The server stores neither the token nor anything it
can be brute-forced from without the installation pepper (kept outside the database):

    T      = argon2id(token digits, salt = SHA-256("rri/v1 token salt" || pepper)[:16])
    lookup = HKDF-SHA256(ikm=T, salt=pepper, info="rri/v1 token lookup", 32 bytes)
    seed   = HKDF-SHA256(ikm=T, salt=pepper, info="rri/v1 reporter key", 48 bytes)

``lookup`` finds the case; ``seed`` gives the reporter's P-256 key pair, whose public half is
stored so caseworkers can seal replies that only a holder of the token can open.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import TokenError, TokenTypo
from .kdf import Argon2Params
from .keys import KeyPair, derive_from_seed

TOKEN_DIGITS = 20
_RANDOM_DIGITS = TOKEN_DIGITS - 1  # 10**19 > 2**63: at least 63 bits of entropy

# Damm's totally anti-symmetric quasigroup of order 10 (Damm 2004): detects every single-digit
# error and every transposition of adjacent digits.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm(digits: str) -> int:
    """The Damm interim digit; appending it to ``digits`` makes the whole string check to 0."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def generate() -> str:
    body = f"{secrets.randbelow(10**_RANDOM_DIGITS):0{_RANDOM_DIGITS}d}"
    return body + str(damm(body))


def format_token(token: str) -> str:
    """Five groups of four digits, the way the token is shown and printed."""
    return " ".join(token[i : i + 4] for i in range(0, TOKEN_DIGITS, 4))


def parse(text: str) -> str:
    """Normalise what a person typed into the 20 ASCII digits, or raise a TokenError.

    Any Unicode decimal digit counts (Arabic-Indic, Persian, full-width, ...) because people type
    tokens on their own keyboards; spaces, dashes and dots between groups are ignored.
    """
    digits = []
    for ch in text:
        if ch.isspace() or ch in "-.\u2010\u2011\u2012\u2013\u2212":
            continue
        value = unicodedata.decimal(ch, None)
        if value is None:
            raise TokenError("a token contains only digits")
        digits.append(str(value))
    token = "".join(digits)
    if len(token) != TOKEN_DIGITS:
        raise TokenError(f"a token has {TOKEN_DIGITS} digits; this has {len(token)}")
    if damm(token) != 0:
        raise TokenTypo("this token has a typo: please check each digit")
    return token


@dataclass(frozen=True)
class TokenSecrets:
    lookup: bytes
    reporter: KeyPair


def _hkdf(ikm: bytes, pepper: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=pepper, info=label).derive(ikm)


def derive(token: str, pepper: bytes, params: Argon2Params) -> TokenSecrets:
    """One argon2id run per token presentation; both outputs come from it."""
    salt = hashlib.sha256(b"rri/v1 token salt" + pepper).digest()[:16]
    stretched = params.derive(parse(token).encode("ascii"), salt)
    lookup = _hkdf(stretched, pepper, b"rri/v1 token lookup", 32)
    reporter = KeyPair.from_private(derive_from_seed(_hkdf(stretched, pepper, b"rri/v1 reporter key", 48)))
    return TokenSecrets(lookup=lookup, reporter=reporter)
