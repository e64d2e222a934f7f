"""Proof-of-work on submit and on token look-up, with no record of who asked.

A challenge is stateless and signed: ``base64url(expires(4) || bits(1) || path(1) || issued(4) ||
random(12) || HMAC(secret, ...)[:16])``; ``path`` says whether it is for a browser running app.js
(``Path.JS``) or for a plain form post (``Path.FORM``). A JS challenge is paid with work: a decimal
counter ``n`` such that ``SHA-256(challenge || ":" || n)`` starts with ``bits`` zero bits. A
browser without JavaScript cannot compute that, so a FORM challenge is paid with time: the form
must have been open a minimum number of seconds, which grows with the load of such requests.
JSON routes accept JS challenges only, so nobody can choose the cheap path there.

Each price rises only with requests that paid it (JS and form loads counted apart), so free or
failed requests cannot raise what honest reporters pay. A spent challenge is recorded, as a hash
with a day-granular expiry, in a database table shared by every worker: one payment, one request.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import hmac
import math
import os
import struct
import threading
import time
from collections import deque

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from . import clock, errors
from .db import Database
from .models import SpentChallenge

_LAYOUT = struct.Struct(">IBBI12s")
_MAC_LEN = 16
_ENCODED_LEN = len(base64.urlsafe_b64encode(bytes(_LAYOUT.size + _MAC_LEN)).rstrip(b"="))
TTL_SECONDS = 3 * 3600  # a long report on a slow link must not expire while being written
MIN_FORM_SECONDS = 2  # without JavaScript: the form must have been open this long when calm
MAX_FORM_SECONDS = 120  # ... and never longer than this, however busy
WINDOW_SECONDS = 60
CALM_REQUESTS = 30  # paid requests per window before the price starts to rise
MAX_EXTRA_BITS = 8
MAX_SOLUTION_DIGITS = 20
PURGE_EVERY_SECONDS = 3600


class PowError(errors.Refused):
    """The request's proof-of-work is missing, wrong, expired or already used."""


class Payment(enum.Enum):
    """What a request's challenge bought: see ``ProofOfWork.pay``."""

    PAID = "paid"
    BY_TWIN = "paid by an earlier copy of the same submit, which is filing it now"
    UNPAID = "unpaid"


class AlreadySpent(PowError):
    """Paid for by an earlier copy of the same submit (same nonce), which is filing it now."""


class Path(enum.IntEnum):
    JS = 0
    FORM = 1


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


class _Load:
    """Paid requests in the last window, in this process (one deque, trimmed from the left)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def steps(self, now: float) -> int:
        """How many doublings of the price the current load calls for."""
        while self._times and now - self._times[0] > WINDOW_SECONDS:
            self._times.popleft()
        load = len(self._times)
        return 0 if load <= CALM_REQUESTS else min(MAX_EXTRA_BITS, int(math.log2(load / CALM_REQUESTS)) + 1)

    def add(self, now: float) -> None:
        self._times.append(now)


class ProofOfWork:
    def __init__(self, secret: bytes, base_bits: int, database: Database) -> None:
        self._secret = hashlib.sha256(b"rri/v1 pow" + secret).digest()
        self.base_bits = base_bits
        self._db = database
        self._load = {Path.JS: _Load(), Path.FORM: _Load()}
        self._lock = threading.Lock()
        self._purged = 0.0

    def current_bits(self) -> int:
        with self._lock:
            return self.base_bits + self._load[Path.JS].steps(time.monotonic())

    def form_seconds(self) -> int:
        """The minimum age of a form posted without JavaScript, under the current form load."""
        with self._lock:
            steps = self._load[Path.FORM].steps(time.monotonic())
        return min(MAX_FORM_SECONDS, MIN_FORM_SECONDS << steps)

    def challenge(self, path: Path = Path.JS) -> str:
        now = int(time.time())
        bits = self.current_bits() if path is Path.JS else 0
        payload = _LAYOUT.pack(now + TTL_SECONDS, bits, path, now, os.urandom(12))
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_LEN]
        return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")

    def verify(self, challenge: str, solution: str | None, *, form_allowed: bool, nonce: str | None = None) -> None:
        """Accept one request, or raise PowError. ``form_allowed``: the request may pay with time.

        ``nonce``: the submission the work pays for. A copy of that same submission finding the
        challenge spent gets AlreadySpent (its twin is filing it), anything else a plain refusal.
        """
        raw = self._authentic(challenge)
        expires, bits, path, issued, _ = _LAYOUT.unpack(raw[: _LAYOUT.size])
        now = time.time()
        if now > expires:
            raise PowError("challenge expired")
        if path == Path.JS:
            if not solution:
                raise PowError("no solution")
            # ASCII digits only: str.isdigit() also accepts "²", which int() and peers refuse.
            if len(solution) > MAX_SOLUTION_DIGITS or not (solution.isascii() and solution.isdigit()):
                raise PowError("malformed solution")
            digest = hashlib.sha256(challenge.encode() + b":" + solution.encode()).digest()
            if leading_zero_bits(digest) < bits:
                raise PowError("insufficient work")
        elif not form_allowed:
            raise PowError("this route needs a solved challenge")
        elif now - issued < self.form_seconds():
            raise PowError("sent too quickly")
        self._spend(raw, expires, nonce)
        with self._lock:
            self._load[Path(path)].add(time.monotonic())

    def pay(self, challenge: str, solution: str | None, *, form_allowed: bool, nonce: str | None = None) -> Payment:
        """``verify`` as an answer rather than an exception, for the routes to branch on."""
        try:
            self.verify(challenge, solution, form_allowed=form_allowed, nonce=nonce)
        except AlreadySpent:
            return Payment.BY_TWIN
        except PowError:
            return Payment.UNPAID
        return Payment.PAID

    def _authentic(self, challenge: str) -> bytes:
        if len(challenge) != _ENCODED_LEN or not challenge.isascii():
            raise PowError("malformed challenge")
        try:
            raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
        except (binascii.Error, ValueError):
            raise PowError("malformed challenge") from None
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if len(raw) != _LAYOUT.size + _MAC_LEN or _LAYOUT.unpack(payload)[2] not in (Path.JS, Path.FORM):
            raise PowError("malformed challenge")
        if not hmac.compare_digest(mac, hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_LEN]):
            raise PowError("challenge was not issued here")
        return raw

    def _spend(self, raw: bytes, expires: int, nonce: str | None) -> None:
        # Kept until the day after the challenge expires: by then the MAC check refuses it anyway.
        keep_until = dt.datetime.fromtimestamp(expires, dt.UTC).date() + dt.timedelta(days=1)
        digest = hashlib.sha256(raw).digest()
        paid_for = hashlib.sha256(b"rri/v1 paid for " + raw + (nonce or "").encode()).digest() if nonce else None
        try:
            with self._db.session() as session:
                session.add(SpentChallenge(digest=digest, expires_on=keep_until, paid_for=paid_for))
        except IntegrityError:
            with self._db.session() as session:
                spent = session.get(SpentChallenge, digest)
            if paid_for is not None and spent is not None and spent.paid_for == paid_for:
                raise AlreadySpent("paid by an earlier copy of this submit") from None
            raise PowError("challenge already used") from None
        self._purge_now_and_then()

    def _purge_now_and_then(self) -> None:
        with self._lock:
            monotonic = time.monotonic()
            if self._purged and monotonic - self._purged < PURGE_EVERY_SECONDS:
                return
            self._purged = monotonic
        with self._db.session() as session:
            session.execute(delete(SpentChallenge).where(SpentChallenge.expires_on < clock.today()))
