"""Overload protection must fire under the shipped deployment: argon2 work beyond its slots and
a short queue is refused at once (503 + Retry-After), leaving threads for pages and /health."""

from __future__ import annotations

import contextlib
import runpy
import threading
import time
from pathlib import Path

import pytest

from cases.config import Settings
from cases.limits import QUEUE_PER_SLOT, Busy, Slots

ROOT = Path(__file__).resolve().parents[1]


def test_slots_refuse_at_once_when_the_queue_is_full() -> None:
    slots = Slots(1, queue=1)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with slots.take():
            entered.set()
            release.wait(5)

    def queue() -> None:
        with contextlib.suppress(Busy), slots.take(wait=5):
            pass

    holder, waiter = threading.Thread(target=hold), threading.Thread(target=queue)
    holder.start()
    entered.wait(5)
    waiter.start()
    time.sleep(0.1)  # the waiter now queues for the slot
    started = time.monotonic()
    with pytest.raises(Busy), slots.take(wait=5):
        pass
    assert time.monotonic() - started < 0.5, "a request beyond the queue must not wait"
    release.set()
    holder.join()
    waiter.join()


def test_shipped_threads_leave_room_beyond_the_argon2_queue() -> None:
    """With fewer threads than slots + queue, requests wait in gunicorn's backlog, where no
    503 can ever be answered and /health waits behind argon2 (what the audit measured)."""
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn_intake.py"))
    slots = Settings.argon2_slots
    assert config["worker_class"] == "gthread"
    assert config["threads"] >= 2 * slots * (1 + QUEUE_PER_SLOT)
