"""Limits on one request's work: bounded argon2 slots (``Busy``) and upload sizes (``TooLarge``).

Every token derivation costs ~64 MiB and ~100 ms of one core. Without a bound, a burst of
look-ups would queue without end and take the memory of the host with it. The bound is real
only if requests reach it: gunicorn runs more threads than slots (deploy/gunicorn_intake.py), so
a request that finds the slots and their short queue full is answered 503 + Retry-After at once,
and pages, uploads and /health keep answering on the other threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import errors

WAIT_SECONDS = 3.0
QUEUE_PER_SLOT = 2  # waiters per slot: each waits at most a few derivations, never minutes
RETRY_AFTER_SECONDS = 5  # short: the queue drains in seconds, and idle argon2 slots are wasted capacity


class Busy(errors.Busy):
    """All slots and the queue are taken (or every sealing slot): retry after RETRY_AFTER_SECONDS."""

    def __init__(self) -> None:
        super().__init__("busy", RETRY_AFTER_SECONDS)


class TooLarge(errors.Invalid):
    """Files beyond a limit: ``what`` is "file" (one too large), "total" or "count"."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Slots:
    def __init__(self, count: int, queue: int | None = None) -> None:
        self._semaphore = threading.BoundedSemaphore(count)
        self._admitted = threading.BoundedSemaphore(count + (count * QUEUE_PER_SLOT if queue is None else queue))

    @contextmanager
    def take(self, wait: float = WAIT_SECONDS) -> Iterator[None]:
        if not self._admitted.acquire(blocking=False):
            raise Busy()
        try:
            if not self._semaphore.acquire(timeout=wait):
                raise Busy()
            try:
                yield
            finally:
                self._semaphore.release()
        finally:
            self._admitted.release()
