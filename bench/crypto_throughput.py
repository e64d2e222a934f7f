"""Prints how fast the crypto layer is on this machine (a benchmark, not a test).

    .venv/bin/python bench/crypto_throughput.py

Figures: envelopes sealed and opened per second (1 KiB report), attachment STREAM throughput
(encrypt and decrypt, MiB/s), and the cost of one token derivation and one key unlock at the
production argon2id setting (RFC 9106 second recommended: t=3, 64 MiB, p=4), which bounds how many
status look-ups per second one core can serve.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from crypto import passwords, token
from crypto.envelope import Purpose, open_envelope, seal
from crypto.kdf import PRODUCTION
from crypto.keys import KeyPair
from crypto.stream import decrypt_chunks, encrypt_chunks, new_file_key


def rate(label: str, func: Callable[[], object], seconds: float = 1.0, unit: str = "/s", scale: float = 1.0) -> None:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        func()
        count += 1
    print(f"{label:<46} {count * scale / elapsed:>10.1f} {unit}")


def main() -> None:
    recipient = KeyPair.generate()
    report = os.urandom(1024)
    sealed = seal(recipient.public, Purpose.REPORT, report)
    rate("seal 1 KiB report", lambda: seal(recipient.public, Purpose.REPORT, report))
    rate("open 1 KiB report", lambda: open_envelope(recipient.private, Purpose.REPORT, sealed))

    data = os.urandom(8 * 1024 * 1024)
    key = new_file_key()
    chunks = encrypt_chunks(key, data)
    rate("STREAM encrypt (8 MiB file)", lambda: encrypt_chunks(key, data), unit="MiB/s", scale=8)
    rate("STREAM decrypt (8 MiB file)", lambda: list(decrypt_chunks(key, len(chunks), chunks)), unit="MiB/s", scale=8)

    pepper = os.urandom(32)
    reporter_token = token.generate()
    start = time.perf_counter()
    token.derive(reporter_token, pepper, PRODUCTION)
    print(f"{'token derivation, production argon2id':<46} {(time.perf_counter() - start) * 1000:>10.1f} ms")
    locked = passwords.lock(recipient, "a caseworker password", PRODUCTION)
    start = time.perf_counter()
    passwords.unlock(locked, "a caseworker password", recipient.id)
    print(f"{'caseworker key unlock, production argon2id':<46} {(time.perf_counter() - start) * 1000:>10.1f} ms")


if __name__ == "__main__":
    main()
