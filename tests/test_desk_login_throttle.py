"""Login throttling: every failure answers alike whether the name exists, is wrong or paused;
argon2 work is bounded (503 + Retry-After) so a login flood leaves the inbox fast."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import update

import caseworker
from cases import installation, staff_throttle, totp
from cases.config import Settings
from cases.db import Database
from cases.models import Caseworker, Role
from crypto.kdf import Argon2Params

from .cli_helpers import ADMIN_PASSWORD, init
from .conftest import Installed
from .production import gunicorn_app
from .test_desk_auth import secret_on

ROOT = Path(__file__).resolve().parents[1]
# Dearer than the test profile, so argon2 (not the database) is what the timings measure.
MEDIUM = Argon2Params(time_cost=2, memory_kib=8 * 1024, parallelism=1)


def test_every_failure_answers_alike_and_takes_as_long(
    settings: Settings, database: Database, installed: Installed
) -> None:
    with database.session() as session:
        for name in ("carla", "dora"):
            installation.create_caseworker(session, name, f"{name}'s long password", Role.CASEWORKER, MEDIUM)
        # dora is paused: outsiders failed five times.
        session.execute(
            update(Caseworker)
            .where(Caseworker.username == "dora")
            .values(failed_logins=5, locked_until=time_in(minutes=30))
        )
    app = caseworker.create_app(dataclasses.replace(settings, argon2=MEDIUM), database)
    client = app.test_client()
    client.post("/login", data={"username": "nobody", "password": "warm up the decoy"})
    kinds = {"unknown": "nobody", "existing": "carla", "paused": "dora"}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    bodies: dict[str, set[bytes]] = {kind: set() for kind in kinds}
    for _ in range(9):
        for kind, name in kinds.items():
            started = time.perf_counter()
            response = client.post("/login", data={"username": name, "password": "a wrong guess", "code": "123456"})
            times[kind].append(time.perf_counter() - started)
            assert response.status_code == 401, kind
            bodies[kind].add(response.data)
    assert len(set.union(*bodies.values())) == 1, "one page for every failure"
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    print("login failure medians:", {kind: f"{seconds * 1000:.1f} ms" for kind, seconds in medians.items()})
    assert max(medians.values()) < 1.5 * min(medians.values()), medians


def time_in(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


def test_slots_answer_busy_but_keep_one_for_trusted_browsers() -> None:
    slots = staff_throttle.Argon2Slots(1)
    with slots.take():
        with pytest.raises(staff_throttle.Busy), slots.take(wait=0.05):
            pass
        with (
            slots.take(trusted=True, wait=0.05),
            pytest.raises(staff_throttle.Busy),
            slots.take(trusted=True, wait=0.05),
        ):
            pass
    with slots.take(wait=0.05):
        pass


def _request(
    port: int, method: str, path: str, body: str = "", cookies: dict[str, str] | None = None
) -> tuple[int, float, http.client.HTTPResponse, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Host": f"localhost:{port}", "Content-Type": "application/x-www-form-urlencoded"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    started = time.perf_counter()
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, time.perf_counter() - started, response, text
    finally:
        conn.close()


def _cookie(response: http.client.HTTPResponse, name: str) -> str:
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith(f"{name}="):
            return header.split(";")[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie")


def _log_in(port: int) -> str:
    """The admin's first login through the gunicorn desk's pages; returns the session cookie."""
    _status, _took, response, _text = _request(
        port, "POST", "/login", f"username=admin&password={quote(ADMIN_PASSWORD)}"
    )
    enrol = {"desk_enrol": _cookie(response, "desk_enrol")}
    secret = secret_on(_request(port, "GET", "/login/enrol", cookies=enrol)[3])
    _status, _took, response, _text = _request(
        port, "POST", "/login/enrol", f"code={totp.current_code(secret)}", cookies=enrol
    )
    return _cookie(response, "desk_session")


@pytest.mark.slow
def test_a_login_flood_gets_503_and_leaves_the_inbox_fast(env: dict[str, str], database: Database) -> None:
    """Under gunicorn with deploy/ settings: 16 threads guess a password whose argon2 is dear."""
    init(env)
    dear = Argon2Params(time_cost=3, memory_kib=32 * 1024, parallelism=1)
    with database.session() as session:
        installation.create_caseworker(session, "erin", "erin's long password", Role.CASEWORKER, dear)
    with gunicorn_app("caseworker", env, RRI_ARGON2_SLOTS="1") as server:
        port = server.port
        cookies = {"desk_session": _log_in(port)}
        quiet = []
        for _ in range(5):
            status, took, _response, _text = _request(port, "GET", "/", cookies=cookies)
            assert status == 200
            quiet.append(took)
        answers: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def flood() -> None:
            while not stop.is_set():
                status, _took, response, _text = _request(
                    port, "POST", "/login", "username=erin&password=a+wrong+guess&code=123456"
                )
                answers.append((status, response.getheader("Retry-After")))

        threads = [threading.Thread(target=flood) for _ in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        inbox = []
        for _ in range(10):
            status, took, _response, _text = _request(port, "GET", "/", cookies=cookies)
            assert status == 200
            inbox.append(took)
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {401, 503}, set(statuses)
    assert statuses.count(503) > 0, "the argon2 bound answered 503"
    assert all(retry == str(staff_throttle.RETRY_AFTER_SECONDS) for status, retry in answers if status == 503)
    print(
        f"flood: {statuses.count(401)} x 401, {statuses.count(503)} x 503; inbox median "
        f"{statistics.median(quiet):.3f} s quiet, {statistics.median(inbox):.3f} s in the flood"
    )
    assert statistics.median(inbox) < 0.5, inbox
