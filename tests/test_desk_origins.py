"""The desk and the intake never share a host name, and a desk session works only on its own.

Browsers keep cookies per host name, not per port, so a desk reached as 127.0.0.1:8081 would
have its session cookie sent to an intake at 127.0.0.1:8080, whose host could replay it.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from werkzeug.test import TestResponse

import caseworker
import intake
from cases.config import ConfigError, Settings
from cases.db import Database
from caseworker import session as staff_session

from .cli_helpers import assert_one_line_error, init, run_cli
from .conftest import Installed
from .desk_helpers import session_cookie
from .production import free_port


def test_a_desk_cookie_opens_nothing_through_another_host_name(
    settings: Settings, database: Database, installed: Installed
) -> None:
    app = caseworker.create_app(settings, database)
    cookie = session_cookie(app, database)  # opened on the desk's name, "localhost"
    client = app.test_client(use_cookies=False)  # the cookie goes wherever the header says

    def get(host: str) -> TestResponse:
        return client.get("/account", headers={"Host": host, "Cookie": f"{staff_session.COOKIE}={cookie}"})

    assert get("localhost").status_code == 200
    for host in ("127.0.0.1", "127.0.0.1:8080", "intake.example", "localhost.evil.example"):
        response = get(host)
        assert response.status_code == 302 and "/login" in response.headers["Location"], host
    assert get("LOCALHOST:8081").status_code == 200, "the same name on any port"


def test_a_desk_with_its_own_name_refuses_every_other(
    settings: Settings, database: Database, installed: Installed
) -> None:
    app = caseworker.create_app(dataclasses.replace(settings, desk_host="localhost"), database)
    cookie = f"{staff_session.COOKIE}={session_cookie(app, database)}"
    client = app.test_client(use_cookies=False)
    assert client.get("/account", headers={"Cookie": cookie}).status_code == 200
    for host in ("127.0.0.1:8081", "intake.example", "[::1]:8081"):
        for path in ("/account", "/login", "/health"):
            assert client.get(path, headers={"Host": host, "Cookie": cookie}).status_code == 421, (host, path)
        assert client.post("/login", headers={"Host": host}).status_code == 421


def test_the_intake_never_honours_a_desk_cookie(settings: Settings, database: Database, installed: Installed) -> None:
    desk = caseworker.create_app(settings, database)
    cookie = f"{staff_session.COOKIE}={session_cookie(desk, database)}"
    client = intake.create_app(settings, database).test_client(use_cookies=False)
    for path in ("/account", "/inbox", "/login", "/cases/1"):
        response = client.get(path, headers={"Cookie": cookie}, follow_redirects=True)
        assert response.status_code == 404, path
        assert staff_session.COOKIE not in " ".join(response.headers.getlist("Set-Cookie"))


@pytest.mark.slow
def test_the_two_apps_may_not_be_configured_with_one_host_name(env: dict[str, str]) -> None:
    same = {**env, "RRI_DESK_HOST": "reports.example.org", "RRI_INTAKE_HOST": "Reports.Example.org"}
    with pytest.raises(ConfigError, match="same host name"):
        Settings.from_env(same)
    with pytest.raises(ConfigError, match="RRI_DESK_HOST"):
        Settings.from_env({**env, "RRI_DESK_HOST": "desk example/org"})
    assert Settings.from_env({**env, "RRI_DESK_HOST": "Desk.Example.org:8443"}).desk_host == "desk.example.org"
    init(env)
    assert_one_line_error(run_cli(same, "serve"), "same host name")
    assert_one_line_error(run_cli(env, "serve", "--intake-name", "localhost"), "different host names")


def _status(port: int, path: str, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.slow
def test_serve_gives_each_app_its_own_host_name(env: dict[str, str]) -> None:
    init(env)
    intake_port, desk_port = free_port(), free_port()
    args = ["serve", "--intake-port", str(intake_port), "--caseworker-port", str(desk_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        urls: list[str] = []
        deadline = time.monotonic() + 30
        while len(urls) < 2 and time.monotonic() < deadline:
            urls += re.findall(r"http://\S+", proc.stdout.readline())
        intake_url, desk_url = (urlsplit(url) for url in urls)
        assert (intake_url.port, desk_url.port) == (intake_port, desk_port)
        assert intake_url.hostname != desk_url.hostname, urls
        assert (intake_url.hostname, desk_url.hostname) == ("127.0.0.1", "localhost")
        assert _status(desk_port, "/login", f"localhost:{desk_port}") == 200
        # The desk reached by the intake's name (where the browser would share its cookies) refuses.
        assert _status(desk_port, "/login", f"127.0.0.1:{desk_port}") == 421
        assert _status(intake_port, "/health", f"127.0.0.1:{intake_port}") == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
