"""Every route of both apps answers hostile requests without a server error.

A small, seeded count per route through the Flask test client (``bench/fuzz.py`` sends thousands
per route to real gunicorn). A failure lists, per route, the request and the exception behind
each 5xx; 503 with Retry-After is the argon2 bound working, not an error.
"""

from __future__ import annotations

import os

import pytest

from bench import fuzzgen
from cases.config import Settings
from cases.db import Database

from .conftest import Installed
from .fuzzing import installation

PER_ROUTE = int(os.environ.get("RRI_FUZZ_PER_ROUTE", "40"))
SEED = int(os.environ.get("RRI_FUZZ_SEED", "7"))


@pytest.mark.slow  # about 10 s per backend on an idle machine
def test_no_route_answers_a_server_error(settings: Settings, database: Database, installed: Installed) -> None:
    setup = installation(settings, database, installed.admin_id)
    assert len(setup.routes) >= 44, [r.name for r in setup.routes]
    failures: dict[str, list[str]] = {}
    causes: dict[str, set[str]] = {}
    for route in setup.routes:
        transport = setup.transports[route.app]
        for request, status, failed in fuzzgen.fuzz_route(
            transport, route, setup.targets, setup.harvest, setup.live, SEED, PER_ROUTE
        ):
            if failed:
                cause = repr(transport.exceptions[-1])[:160] if transport.exceptions else f"{status}, no exception"
                causes.setdefault(route.name, set()).add(
                    type(transport.exceptions[-1]).__name__ if transport.exceptions else str(status)
                )
                failures.setdefault(route.name, []).append(f"{cause}\n      {request.describe()}")
            transport.exceptions.clear()
        setup.live.forget_csrf()  # a fuzzed request may have ended or replaced the session
        if route.app == "desk" and transport.send("GET", "/account")[0] != 200:
            setup.log_in_again()
    report = [f"{name}: {len(failures[name])} x {sorted(causes[name])}" for name in sorted(failures)]
    details = [f"  {name}: {line}" for name in sorted(failures) for line in failures[name][:3]]
    count = sum(len(lines) for lines in failures.values())
    assert not failures, f"{count} server errors on {len(failures)} routes:\n" + "\n".join(report + details)
