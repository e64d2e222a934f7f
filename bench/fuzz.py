"""Fuzz every route of both apps under real gunicorn; print 5xx and tracebacks per route (goal 0).

    .venv/bin/python bench/fuzz.py                     # SQLite, 2,000 requests per route
    .venv/bin/python bench/fuzz.py --db postgres -n 100 --seed 3

A throw-away installation (test argon2, the least proof-of-work) is served by gunicorn with the
``deploy/`` settings; the desk is logged in as its admin through the login and TOTP pages. The
requests come from ``bench/fuzzgen.py``, the generator ``tests/test_fuzz_routes.py`` uses with the
Flask test client. Routes are fuzzed one after the other, so the tracebacks that appear in the
servers' stderr meanwhile belong to that route. "503 busy" (503 with Retry-After) is the argon2
bound doing its job and is counted apart from the 5xx.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

import caseworker
import intake
from bench import fuzzgen
from bench import protocol_client as client
from bench.servers import database_url, serve
from cases import installation
from cases.config import Settings
from cases.models import Case, Role
from cli.main import open_database

TRACEBACK = "Traceback (most recent call last)"
CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
# The last line of a traceback: the exception's class and the start of its message.
FINAL_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning)): (.{0,70})", re.MULTILINE)


def tracebacks(path: Path) -> int:
    """Unhandled exceptions logged so far; a chained one prints several tracebacks but counts once."""
    if not path.exists():
        return 0
    log = path.read_text(errors="replace")
    return log.count(TRACEBACK) - sum(log.count(phrase) for phrase in CHAINED)


def causes(path: Path) -> list[str]:
    """Distinct exception classes and message starts in the log (digits blurred), for the summary."""
    log = path.read_text(errors="replace") if path.exists() else ""
    return sorted({f"{name}: {re.sub(r'[0-9]+', 'N', message)}" for name, message in FINAL_LINE.findall(log)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-n", "--per-route", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight per route")
    parser.add_argument("--only", default="", help="a regular expression: fuzz only the routes it finds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp)
        url = stack.enter_context(database_url(args.db, home))
        env = {"RRI_HOME": str(home), "DATABASE_URL": url, "RRI_ARGON2": "testing", "RRI_POW_BITS": "0"}
        # A developer's own RRI_*/DATABASE_URL must not reach the servers.
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RRI_", "DATABASE_URL"))}, **env}
        settings = Settings.from_env(env)
        db = open_database(settings, prepare=True)
        password = secrets.token_urlsafe(16)
        with db.session() as session:
            admin_id = installation.initialise(session, "admin", password, settings.argon2).admin.id
            other = installation.create_caseworker(
                session, "bob", secrets.token_urlsafe(16), Role.CASEWORKER, settings.argon2
            )
            other_id = other.id
        stderr = home / "servers.stderr"
        servers = {app: stack.enter_context(serve(app, env, stderr)) for app in ("intake", "desk")}
        transports = {app: client.HttpTransport(server.url) for app, server in servers.items()}
        totp_secret = client.desk_login(transports["desk"], "admin", password, None, time.time)
        filed = client.file_report(
            transports["intake"],
            "en",
            {"what_happened": "fuzz", "danger": "yes"},
            [("e.txt", "text/plain", b"x" * 70_000)],
        )
        with db.session() as session:
            case_id = str(session.scalars(select(Case.id)).one())
        targets = fuzzgen.Targets(
            real={
                "case_id": case_id,
                "attachment_id": str(filed.uploads[0]["id"]),
                "worker_id": str(other_id),
                "index": "0",
                "number": "1",
            },
            own_id=admin_id,
            static={"intake": "app.js", "desk": "desk.css"},
        )
        live = fuzzgen.PageLive(transports["intake"], transports["desk"], filed.token, str(filed.uploads[0]["secret"]))
        routes = []
        for name, factory in (("intake", intake.create_app), ("desk", caseworker.create_app)):
            app = factory(settings, db)
            routes += fuzzgen.routes_of(name, ((r.rule, r.methods or ()) for r in app.url_map.iter_rules()))
        routes = [route for route in fuzzgen.order(routes) if re.search(args.only, route.name)]
        harvest = fuzzgen.crawl(transports, routes, targets, live)

        print(f"{args.db}: {len(routes)} routes, {args.per_route} requests each, seed {args.seed}")
        # "< 400": answers that got past every check, a sign the requests reach the views' parsing.
        print(f"{'route':58} {'5xx':>6} {'503 busy':>8} {'tracebacks':>10} {'< 400':>6} {'req/s':>7}")
        totals = [0, 0, 0]
        for route in routes:
            before = tracebacks(stderr)
            started = time.monotonic()
            requests = list(fuzzgen.requests_for(route, targets, harvest, live, args.seed, args.per_route))
            transport = transports[route.app]

            def send(
                request: fuzzgen.FuzzRequest, transport: client.HttpTransport = transport
            ) -> tuple[int, dict[str, str]]:
                try:
                    status, headers, _b = transport.send(request.method, request.path, request.body, request.headers)
                except OSError:  # a refused oversized body may close the socket before we finish
                    return 0, {}
                return status, headers

            with ThreadPoolExecutor(args.concurrency) as pool:
                answers = list(pool.map(send, requests))
            elapsed = time.monotonic() - started
            time.sleep(0.3)  # let the servers flush their stderr
            errors = sum(1 for status, headers in answers if fuzzgen.server_error(status, headers))
            busy = sum(1 for status, headers in answers if status == 503 and not fuzzgen.server_error(status, headers))
            traced = tracebacks(stderr) - before
            totals = [totals[0] + errors, totals[1] + busy, totals[2] + traced]
            passed = sum(1 for status, _h in answers if 0 < status < 400)
            rate = len(requests) / elapsed
            print(f"{route.name[:58]:58} {errors:6} {busy:8} {traced:10} {passed:6} {rate:7.0f}", flush=True)
            live.forget_csrf()
            if route.app == "desk" and route != routes[-1] and transports["desk"].send("GET", "/account")[0] != 200:
                print("  (the desk session ended: logging in again for the next routes)", flush=True)
                time.sleep(31 - time.time() % 30)  # a TOTP code is accepted once: wait for the next one
                totp_secret = client.desk_login(transports["desk"], "admin", password, totp_secret, time.time)
        print(f"{'total':58} {totals[0]:6} {totals[1]:8} {totals[2]:10}")
        found = causes(stderr)
        print(f"{len(found)} distinct exception lines in the servers' stderr" + ":" * bool(found))
        for line in found:
            print(f"  {line}")
        db.engine.dispose()


if __name__ == "__main__":
    main()
