"""Load on the intake under gunicorn with the deploy/ settings (a benchmark, not a test).

    .venv/bin/python bench/load.py [-n 10000] [--concurrency 50] [--backend sqlite|postgres|both]
    .venv/bin/python bench/load.py --production [-n 300] [--concurrency 200]

Default mode (test argon2): N reports through the JSON API at the given concurrency, then every
case is decrypted as staff would: lost (answered with a token but not filed), duplicated
(filed twice) and corrupted (does not open, or opens to other bytes) must be 0/0/0.

--production: production argon2id. Clients honour 503 + Retry-After and resend (same nonce);
prints throughput against this machine's raw argon2id rate, how many clients eventually got
through, and /health and form-page latency while argon2 is saturated.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from servers import Installation, installation, intake_server, read_everything

from bench import protocol_client as client
from crypto import kdf
from crypto import token as tokens


@dataclass
class Tally:
    filed: dict[str, bytes] = field(default_factory=dict)  # bench id -> report plaintext
    statuses: Counter[int] = field(default_factory=Counter)
    busy_answers: int = 0
    gave_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def one_report(base: str, key: bytes, number: int, tally: Tally, max_tries: int) -> None:
    report = json.dumps({"v": 1, "bench": number, "pad": secrets.token_hex(64)}).encode()
    nonce = secrets.token_urlsafe(18)
    for _ in range(max_tries):
        try:
            answer = client.send_report(client.HttpTransport(base, timeout=120), key, report, [], nonce)
        except OSError:
            with tally.lock:
                tally.statuses[0] += 1
            time.sleep(1)
            continue
        with tally.lock:
            tally.statuses[answer.status] += 1
        if answer.status == 503:
            with tally.lock:
                tally.busy_answers += 1
            time.sleep((answer.retry_after or 20) * (1 + secrets.randbelow(25) / 100))
            continue
        if answer.status == 200 and answer.body.get("token"):
            with tally.lock:
                tally.filed[str(number)] = report
            return
        time.sleep(0.5)
    with tally.lock:
        tally.gave_up += 1


def probe(base: str, stop: threading.Event, into: dict[str, list[float]]) -> None:
    while not stop.is_set():
        for path in ("/health", "/en/"):
            started = time.monotonic()
            try:
                urllib.request.urlopen(base + path, timeout=60).read()
                into[path].append(time.monotonic() - started)
            except OSError:
                into[path].append(float("inf"))
        stop.wait(0.25)


def raw_argon2_rate(seconds: float = 4.0) -> float:
    """Token derivations per second this machine manages flat out (one caller per core)."""
    pepper, done, stop = os.urandom(32), [0], time.monotonic() + seconds

    def spin() -> None:
        while time.monotonic() < stop:
            tokens.derive(tokens.generate(), pepper, kdf.PRODUCTION)
            done[0] += 1

    callers = [threading.Thread(target=spin) for _ in range(os.cpu_count() or 1)]
    started = time.monotonic()
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    return done[0] / (time.monotonic() - started)


def check(inst: Installation, tally: Tally) -> tuple[int, int, int]:
    back = read_everything(inst)
    seen: Counter[str] = Counter()
    corrupted = back.unreadable
    for plaintext in back.reports:
        number = str(json.loads(plaintext)["bench"])
        seen[number] += 1
        if tally.filed.get(number, plaintext) != plaintext:
            corrupted += 1
    lost = sum(1 for number in tally.filed if seen[number] == 0)
    duplicated = sum(count - 1 for count in seen.values() if count > 1)
    return lost, duplicated, corrupted


def pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return "timeout" if value == float("inf") else f"{value * 1000:.0f} ms"


def run(backend: str, args: argparse.Namespace) -> bool:
    argon2 = "production" if args.production else "testing"
    raw_before = raw_argon2_rate() if args.production else 0.0
    with installation(backend, argon2=argon2, pow_bits=args.pow_bits) as inst, intake_server(inst) as server:
        key = client.intake_key(client.HttpTransport(server.url))
        tally, latencies, stop = Tally(), {"/health": [], "/en/": []}, threading.Event()
        prober = threading.Thread(target=probe, args=(server.url, stop, latencies))
        prober.start()
        started = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for number in range(args.n):
                pool.submit(one_report, server.url, key, number, tally, args.max_tries)
        elapsed = time.monotonic() - started
        stop.set()
        prober.join()
        errors = server.errors()
        lost, duplicated, corrupted = check(inst, tally)
    print(f"\n== {backend}, {argon2} argon2, {args.n} reports at concurrency {args.concurrency}")
    print(f"filed {len(tally.filed)}/{args.n} in {elapsed:.1f} s ({len(tally.filed) / elapsed:.1f} reports/s)")
    print(f"answers: {dict(sorted(tally.statuses.items()))}  (0 = connection error)")
    print(f"lost/duplicated/corrupted: {lost}/{duplicated}/{corrupted}")
    for cause, count in errors.most_common(8):
        print(f"server exception x{count}: {cause}")
    for path, values in latencies.items():
        print(f"GET {path} during the run: p50 {pct(values, 0.5)}, p99 {pct(values, 0.99)}, n={len(values)}")
    if args.production:
        rate = max(raw_before, raw_argon2_rate())  # other load on the machine lowers either
        through = len(tally.filed) / elapsed
        print(f"raw argon2id rate {rate:.2f}/s; served {through:.2f}/s = {100 * through / rate:.0f} % of raw")
        print(
            f"503 + Retry-After answers: {tally.busy_answers}; clients that got through: "
            f"{len(tally.filed)}/{args.n}, gave up after {args.max_tries} tries: {tally.gave_up}"
        )
    return (lost, duplicated, corrupted) == (0, 0, 0) and len(tally.filed) == args.n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=None, help="reports (default 10000; 300 with --production)")
    parser.add_argument("--concurrency", type=int, default=None, help="clients at once (50; 200 with --production)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--production", action="store_true", help="production argon2id, overload and Retry-After")
    parser.add_argument("--pow-bits", type=int, default=8, help="proof-of-work bits at rest (clients solve them)")
    parser.add_argument("--max-tries", type=int, default=30, help="resends per client before giving up")
    args = parser.parse_args()
    args.n = args.n or (300 if args.production else 10_000)
    args.concurrency = args.concurrency or (200 if args.production else 50)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = all([run(backend, args) for backend in backends])
    print("\nOK" if ok else "\nFAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
