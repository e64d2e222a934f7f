"""Served for real on sockets, the intake app logs no client address, user agent, query, time,
or concrete path (upload ids and the language link one reporter's requests): route patterns only.

Both ways it is served are checked: the embedded ``reprisals serve`` (werkzeug) and gunicorn
with deploy/gunicorn_intake.py, which is what the Dockerfile runs.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .cli_helpers import init
from .production import free_port, gunicorn_app

ROOT = Path(__file__).resolve().parents[1]
UA = "UA-CANARY-Mozilla/5.0-Nokia-105"
FORWARDED = "203.0.113.77"
QUERY = "QUERY-CANARY"
UPLOAD = "UPLOADID-CANARY"


def _visit(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    for path in ("/", f"/?q={QUERY}", "/health", "/no/such/page", "/es/safety", f"/api/upload/{UPLOAD}"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"User-Agent": UA, "X-Forwarded-For": FORWARDED}
        )
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=5).read()


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _assert_anonymous(log: str) -> None:
    assert "GET /health 200" in log, f"requests must be logged for this check to mean anything:\n{log}"
    assert "GET <no route> 404" in log
    assert "GET /<lang>/safety 200" in log
    assert "GET /api/upload/<attachment_id> 404" in log
    for secret in ("127.0.0.1", UA, FORWARDED, QUERY, UPLOAD, "/es/", "/no/such/page"):
        assert secret not in log, f"{secret!r} leaked into the log:\n{log}"
    access = [line for line in log.splitlines() if ".access" in line]
    assert access and not any(re.search(r"\d\d:\d\d", line) for line in access), "no time in access records"


@pytest.mark.slow
def test_embedded_server_logs_no_address(env) -> None:
    init(env)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--host",
            "localhost",
            "--intake-port",
            str(port),
            "--caseworker-port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _visit(port)
    finally:
        log = _stop(proc)
    # The start-up banner names the apps' own addresses; those are the server's, not a client's.
    _assert_anonymous("\n".join(line for line in log.splitlines() if "http://" not in line))


@pytest.mark.slow
def test_gunicorn_logs_no_address(env: dict[str, str], tmp_path: Path) -> None:
    init(env)
    home = tmp_path / "data-volume"  # $HOME is the shared data volume in the Docker example
    home.mkdir()
    runtime = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
    with gunicorn_app("intake", runtime, HOME=str(home), RRI_INTAKE_WORKERS="1") as server:
        _visit(server.port)
    # gunicorn announces its own bind address at start-up; that is the server's, not a client's.
    client_lines = "\n".join(line for line in server.log().splitlines() if "Listening at" not in line)
    _assert_anonymous(client_lines)
    assert list(home.iterdir()) == [], "gunicorn must not put a control socket in the data volume"
