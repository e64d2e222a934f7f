"""Proof-of-work on submit and on token look-up, with no record of who asked.

A challenge is stateless and signed: ``base64url(expires(4) || bits(1) || issued(4) || random(12)
|| HMAC(secret, ...)[:16])``. A solution is a decimal counter ``n`` such that
``SHA-256(challenge || ":" || n)`` starts with ``bits`` zero bits. Spent challenges are remembered
in memory until they expire, so one solution buys one request. Difficulty rises with the number
of requests verified in the last minute: a flood costs the flooder more, an ordinary reporter
on a cheap phone pays a fraction of a second.

Browsers without JavaScript cannot compute the work; for them the same challenge only proves
that the form was held for a few seconds, and the argon2 concurrency limit (intake.limits) is
what keeps a flood from exhausting the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import struct
import threading
import time
from collections import deque

_LAYOUT = struct.Struct(">IBI12s")
_MAC_LEN = 16
TTL_SECONDS = 3 * 3600  # a long report on a slow link must not expire while being written
MIN_FORM_SECONDS = 2  # without JavaScript: the form must have been open this long
WINDOW_SECONDS = 60
CALM_REQUESTS = 30  # per window before the difficulty starts to rise
MAX_EXTRA_BITS = 8


class PowError(Exception):
    """The request's proof-of-work is missing, wrong, expired or already used."""


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


class ProofOfWork:
    def __init__(self, secret: bytes, base_bits: int) -> None:
        self._secret = hashlib.sha256(b"rri/v1 pow" + secret).digest()
        self.base_bits = base_bits
        self._recent: deque[float] = deque()
        self._spent: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def current_bits(self) -> int:
        with self._lock:
            self._trim(time.monotonic())
            load = len(self._recent)
        extra = 0 if load <= CALM_REQUESTS else min(MAX_EXTRA_BITS, int(math.log2(load / CALM_REQUESTS)) + 1)
        return self.base_bits + extra

    def challenge(self) -> str:
        now = int(time.time())
        payload = _LAYOUT.pack(now + TTL_SECONDS, self.current_bits(), now, os.urandom(12))
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_LEN]
        return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")

    def verify(self, challenge: str, solution: str | None) -> None:
        """Accept one request; without a solution (no JavaScript) only the form's age is checked."""
        try:
            raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
        except ValueError:
            raise PowError("malformed challenge") from None
        if len(raw) != _LAYOUT.size + _MAC_LEN:
            raise PowError("malformed challenge")
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(mac, hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_LEN]):
            raise PowError("challenge was not issued here")
        expires, bits, issued, _ = _LAYOUT.unpack(payload)
        now = time.time()
        if now > expires:
            raise PowError("challenge expired")
        if solution:
            if not solution.isdigit() or len(solution) > 20:
                raise PowError("malformed solution")
            digest = hashlib.sha256(challenge.encode() + b":" + solution.encode()).digest()
            if leading_zero_bits(digest) < bits:
                raise PowError("insufficient work")
        elif now - issued < MIN_FORM_SECONDS:
            raise PowError("sent too quickly")
        key = hashlib.sha256(raw).digest()
        with self._lock:
            monotonic = time.monotonic()
            self._trim(monotonic)
            if key in self._spent:
                raise PowError("challenge already used")
            self._spent[key] = expires
            self._recent.append(monotonic)

    def _trim(self, monotonic: float) -> None:
        while self._recent and monotonic - self._recent[0] > WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._spent) > 10_000:
            wall = time.time()
            self._spent = {k: e for k, e in self._spent.items() if e > wall}
