"""Login throttling that slows guessers without locking caseworkers out (OWASP "device cookies").

Failures from untrusted browsers count against the account in the database (shared by every
thread, kept over restarts): the ``MAX_FAILURES``th in a row pauses it for a minute, and each
further one doubles the pause, up to an hour.

A successful login leaves a device cookie: a random id and an HMAC binding it to that
caseworker, nothing else (no name, no time). Failures from a browser without a valid one count
against the account, and past the limit only such untrusted browsers are refused for a while; the
caseworker's own trusted browser still logs in. Failures from a trusted browser count against
that browser alone, which stops being trusted past the limit (in memory; a restart forgives).

Password checks are argon2 work: a few run at once, and the rest wait briefly and then get
503 + Retry-After, so a login flood cannot take the threads that serve the inbox. Trusted
browsers have a slot of their own, so a flood does not keep the caseworker out either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import errors
from .models import Caseworker

DEVICE_COOKIE = "desk_device"
DEVICE_MAX_AGE = 365 * 24 * 3600  # a staff browser stays trusted for a year of non-use at most
DEVICE_FAILURES = 5
WAIT_SECONDS = 0.05  # a waiting login holds a server thread that the inbox may need
RETRY_AFTER_SECONDS = 2
MAX_FAILURES = 5  # the 5th untrusted failure in a row pauses the account for 1 minute, then 2, 4, ... 60
MAX_LOCK_MINUTES = 60
_ID_BYTES = 16


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def minutes_locked(worker: Caseworker, moment: dt.datetime) -> int:
    """Whole minutes (rounded up) the account stays paused; 0 if it is not."""
    if worker.locked_until is None:
        return 0
    left = (_aware(worker.locked_until) - moment).total_seconds()
    return max(1, math.ceil(left / 60)) if left > 0 else 0


def register_failure(worker: Caseworker, moment: dt.datetime) -> None:
    worker.failed_logins = (worker.failed_logins or 0) + 1
    excess = worker.failed_logins - MAX_FAILURES
    if excess >= 0:
        worker.locked_until = moment + dt.timedelta(minutes=min(2 ** min(excess, 6), MAX_LOCK_MINUTES))


def clear_failures(worker: Caseworker) -> None:
    worker.failed_logins = 0
    worker.locked_until = None


class Busy(errors.Busy):
    """Every argon2 slot is taken; the client should retry after RETRY_AFTER_SECONDS."""

    def __init__(self) -> None:
        super().__init__("every password check slot is taken", RETRY_AFTER_SECONDS)


class Argon2Slots:
    """Bounded concurrent argon2 work: ``general`` slots for anyone, one more for trusted devices."""

    def __init__(self, general: int) -> None:
        self._general = threading.BoundedSemaphore(general)
        self._trusted = threading.BoundedSemaphore(1)

    @contextmanager
    def take(self, trusted: bool = False, wait: float = WAIT_SECONDS) -> Iterator[None]:
        # A trusted device tries its own slot first and falls back to the general ones.
        lanes = (self._trusted, self._general) if trusted else (self._general,)
        for lane in lanes:
            if lane.acquire(timeout=wait / len(lanes)):
                try:
                    yield
                finally:
                    lane.release()
                return
        raise Busy()


class Devices:
    """Issues and checks device cookies, and counts failures per trusted device."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"desk device cookie\0" + key).digest()
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def _mac(self, caseworker_id: int, device: str) -> str:
        return hmac.new(self._key, f"{caseworker_id}\0{device}".encode(), hashlib.sha256).hexdigest()

    def issue(self, caseworker_id: int) -> str:
        device = secrets.token_urlsafe(_ID_BYTES)
        return f"{device}.{self._mac(caseworker_id, device)}"

    def _device(self, caseworker_id: int, cookie: str | None) -> str | None:
        """The device id if the cookie is one this desk issued to this caseworker."""
        if not cookie or len(cookie) > 128 or not cookie.isascii():
            return None
        device, _dot, mac = cookie.partition(".")
        if not device or not hmac.compare_digest(mac, self._mac(caseworker_id, device)):
            return None
        return device

    def trusted(self, caseworker_id: int, cookie: str | None) -> bool:
        device = self._device(caseworker_id, cookie)
        if device is None:
            return False
        with self._lock:
            return self._failures.get(device, 0) < DEVICE_FAILURES

    def failed(self, caseworker_id: int, cookie: str | None) -> None:
        device = self._device(caseworker_id, cookie)
        if device is not None:
            # Only ids this desk issued (the HMAC holds) get here, so the table cannot be flooded.
            with self._lock:
                self._failures[device] = self._failures.get(device, 0) + 1

    def succeeded(self, caseworker_id: int, cookie: str | None) -> None:
        device = self._device(caseworker_id, cookie)
        if device is not None:
            with self._lock:
                self._failures.pop(device, None)
