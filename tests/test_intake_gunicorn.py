"""The intake's boundary under gunicorn with deploy/gunicorn_intake.py, two workers, real sockets.

What the audit found only there: the 5xx of malformed input, bodies read before any check, and
a proof-of-work solution accepted once per worker process rather than once.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from .cli_helpers import init
from .production import gunicorn_app
from .reporter_helpers import solve


@pytest.fixture
def port(env: dict[str, str]) -> Iterator[int]:
    pytest.importorskip("gunicorn")
    init(env)
    with gunicorn_app("intake", env, RRI_INTAKE_WORKERS="2") as server:
        yield server.port
    assert "Traceback" not in server.log(), server.log()


def _request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except OSError:
        return 0, {}, b""
    finally:
        conn.close()


def _page(port: int) -> tuple[str, dict[str, str], str]:
    """(cookie, hidden fields, work challenge) of a fresh form."""
    _status, headers, body = _request(port, "GET", "/en/")
    html = body.decode()
    fields = dict(re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', html))
    challenge = re.search(r'data-challenge="([^"]*)"', html)
    assert challenge is not None
    return headers["Set-Cookie"].split(";", 1)[0], fields, challenge.group(1)


@pytest.mark.slow
def test_malformed_input_and_oversized_bodies_under_gunicorn(port: int) -> None:
    cookie, fields, _challenge = _page(port)
    json_headers = {"Cookie": cookie, "Content-Type": "application/json", "X-CSRFToken": fields["csrf"]}
    for body in (b"[" * 50_000, b'{"nonce": "\\ud800"}', b'{"challenge": 1, "urgent": "yes"}'):
        assert _request(port, "POST", "/en/api/report", body, json_headers)[0] == 400
    assert _request(port, "POST", "/en/api/report", b"{}", {**json_headers, "X-CSRFToken": "é"})[0] == 400
    assert _request(port, "GET", "/api/upload/%00")[0] == 400
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        started = time.monotonic()
        conn.sendall(b"POST /en/status HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\ntoken=1")
        assert conn.recv(64).startswith(b"HTTP/1.1 413")
        assert time.monotonic() - started < 2


@pytest.mark.slow
def test_a_solution_buys_one_request_across_workers(port: int) -> None:
    cookie, fields, challenge = _page(port)
    solution = solve(challenge)
    headers = {"Cookie": cookie, "Content-Type": "application/json", "X-CSRFToken": fields["csrf"]}
    answers = []
    for attempt in range(8):  # new connections: gunicorn spreads them over both workers
        # A fresh nonce each time, so no attempt is answered as a resend of the first.
        nonce = base64.urlsafe_b64encode(hashlib.sha256(bytes([attempt])).digest()[:18]).decode()
        body = {"challenge": challenge, "solution": solution, "nonce": nonce, "urgent": False, "report": "AAAA"}
        answers.append(_request(port, "POST", "/en/api/report", json.dumps(body).encode(), headers))
    refusals = [b for status, _h, b in answers if status == 400 and b"wait a few seconds" in b]
    # The first attempt spends the challenge (its envelope is then refused as not sealed here).
    assert len(refusals) == 7, [(status, b[:80]) for status, _h, b in answers]
