"""Bounded argon2 work: a fixed number of slots, and a clear 503 rather than an endless queue.

Every token derivation costs ~64 MiB and ~100 ms of one core. Without a bound, a burst of
look-ups would queue without end and take the memory of the host with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

WAIT_SECONDS = 3.0
RETRY_AFTER_SECONDS = 20


class Busy(Exception):
    """All slots are taken; the client should retry after RETRY_AFTER_SECONDS."""


class Slots:
    def __init__(self, count: int) -> None:
        self._semaphore = threading.BoundedSemaphore(count)

    @contextmanager
    def take(self, wait: float = WAIT_SECONDS) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=wait):
            raise Busy()
        try:
            yield
        finally:
            self._semaphore.release()
