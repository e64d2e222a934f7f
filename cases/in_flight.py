"""Copies of one submit (same nonce) in this process are handled one after the other.

Each copy waits for the one before it to finish its whole request, so a later copy finds the case
the first one filed instead of failing its spent proof-of-work or deriving a token of its own.
(Copies in other processes meet at the database's unique submission key.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

WAIT_SECONDS = 60  # a copy of a submit waits at most this long for the first copy


@dataclass
class Holds:
    """The nonces one request holds; ``InFlight.release`` lets them go when the request ends."""

    nonces: list[str] = field(default_factory=list)


class InFlight:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # nonce: lock, users
        self._lock = threading.Lock()

    def hold(self, nonce: str, holds: Holds) -> None:
        """Wait (a bounded time) until no other request holds ``nonce``, then hold it."""
        if nonce in holds.nonces:
            return
        with self._lock:
            lock, users = self._locks.get(nonce, (threading.Lock(), 0))
            self._locks[nonce] = (lock, users + 1)
        if lock.acquire(timeout=WAIT_SECONDS):
            holds.nonces.append(nonce)
        else:
            self._forget(nonce)

    def release(self, holds: Holds) -> None:
        """At the end of a request: let the next copy of each of its submits go on."""
        while holds.nonces:
            nonce = holds.nonces.pop()
            self._locks[nonce][0].release()
            self._forget(nonce)

    def _forget(self, nonce: str) -> None:
        with self._lock:
            lock, users = self._locks[nonce]
            if users == 1:
                del self._locks[nonce]
            else:
                self._locks[nonce] = (lock, users - 1)
