"""Every route of both apps answers hostile requests without a server error.

A small, seeded count per route through the Flask test client (``bench/fuzz.py`` sends thousands
per route to real gunicorn). A failure lists, per route, the request and the exception behind
each 5xx; 503 with Retry-After is the argon2 bound working, not an error.
"""

from __future__ import annotations

import os

from bench import fuzzgen

from .fuzzing import installation

PER_ROUTE = int(os.environ.get("RRI_FUZZ_PER_ROUTE", "25"))
SEED = int(os.environ.get("RRI_FUZZ_SEED", "7"))


def test_no_route_answers_a_server_error(settings, database, installed) -> None:  # type: ignore[no-untyped-def]
    setup = installation(settings, database)
    assert len(setup.routes) >= 44, [r.name for r in setup.routes]
    failures: list[str] = []
    for route in setup.routes:
        transport = setup.transports[route.app]
        for request, status in fuzzgen.fuzz_route(
            transport, route, setup.targets, setup.harvest, setup.live, SEED, PER_ROUTE
        ):
            if status >= 500 and status != 503:
                cause = repr(transport.exceptions[-1])[:200] if transport.exceptions else "no exception"
                failures.append(f"{route.name}: {status} {cause}\n    {request.describe()}")
            transport.exceptions.clear()
        setup.live.forget_csrf()  # a fuzzed request may have ended or replaced the session
    summary = sorted({f.split(":")[0] for f in failures})
    assert not failures, f"{len(failures)} server errors on {len(summary)} routes: {summary}\n" + "\n".join(
        failures[:60]
    )
