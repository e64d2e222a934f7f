"""The honest side of the protocol over any transport: what a browser and app.js do (CSRF from
the page, proof-of-work, a report sealed to /intake-key and filed as JSON, chunks uploaded) and
what a caseworker does at the login and TOTP pages. Shared by the benches (fuzz, load, crash,
pow_bookkeeping) and the tests (``tests/reporter_helpers.solve`` is this module's ``solve``).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from crypto.envelope import Purpose, seal
from crypto.stream import seal_file


class Transport(Protocol):
    """Sends one request, keeping cookies like a browser; answers (status, headers, body)."""

    def send(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]: ...


class HttpTransport:
    """A plain HTTP/1.1 client over real sockets, with a cookie jar (no domain or path rules:
    one jar per app is enough here)."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def send(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            sent = dict(headers or {})
            if self.cookies:
                conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
            for name, value in sent.items():
                conn.putheader(name, value.encode("latin-1", "replace"))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    self._remember(value)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def _remember(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        expired = "max-age=0" in attributes.lower().replace(" ", "") or "1970" in attributes
        if expired:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value


def csrf_in(html: str) -> str:
    """The CSRF value a page embeds for its forms ('' if none)."""
    found = re.search(r'name="csrf"[^>]*value="([^"]*)"', html) or re.search(r'value="([^"]*)"[^>]*name="csrf"', html)
    return found.group(1) if found else ""


def challenge_in(html: str) -> str:
    """A challenge to pay with work: the page's ``data-challenge`` (app.js's), else its form field."""
    found = re.search(r'data-challenge="([^"]+)"', html) or re.search(r'name="challenge"[^>]*value="([^"]*)"', html)
    return found.group(1) if found else ""


def solve(challenge: str) -> str:
    """A proof-of-work solution (docs/protocol.md §14.4): the difficulty is byte 4 of the
    challenge; the counter's SHA-256 with the challenge starts with that many zero bits."""
    raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
    bits = raw[4] if len(raw) > 4 else 0
    prefix = challenge.encode() + b":"
    counter = 0
    while True:
        digest = int.from_bytes(hashlib.sha256(prefix + str(counter).encode()).digest(), "big")
        if digest >> (256 - bits) == 0:
            return str(counter)
        counter += 1


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Answer:
    """An answer of the JSON API: its status, its body parsed (``{"raw": ...}`` if not a JSON
    object), the Retry-After of a busy answer, and the bytes as they came."""

    status: int
    body: dict[str, object]
    retry_after: int | None
    raw: bytes

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str], raw: bytes) -> Answer:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        retry = headers.get("retry-after", "")
        return cls(status, parsed if isinstance(parsed, dict) else {}, int(retry) if retry.isdigit() else None, raw)


def intake_key(intake: Transport) -> bytes:
    """The public key reports are sealed to, from /intake-key."""
    status, _h, body = intake.send("GET", "/intake-key")
    assert status == 200, f"/intake-key answered {status}"
    key = json.loads(body)["public_key"]
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))


def send_report(
    intake: Transport,
    public: bytes,
    report: bytes,
    files: Sequence[tuple[bytes, int]] = (),
    nonce: str | None = None,
    *,
    lang: str = "en",
    urgent: bool = False,
) -> Answer:
    """One filing as app.js makes it: the form page (CSRF session, challenge), the work solved,
    ``report`` sealed to ``public`` and ``files`` declared (manifest, chunk count) in JSON. The
    nonce names the submission (a resend carries the same); by default one derived from the page."""
    _status, _h, page = intake.send("GET", f"/{lang}/")
    html = page.decode(errors="replace")
    csrf, challenge = csrf_in(html), challenge_in(html)
    headers = json_headers(csrf)
    body = {
        "challenge": challenge,
        "solution": solve(challenge),
        "nonce": nonce or b64(hashlib.sha256(page).digest()[:18]),
        "report": b64(seal(public, Purpose.REPORT, report)),
        "urgent": urgent,
        "files": [{"manifest": b64(manifest), "chunks": count} for manifest, count in files],
    }
    return Answer.of(*intake.send("POST", f"/{lang}/api/report", json.dumps(body).encode(), headers))


@dataclass
class Filed:
    token: str
    uploads: list[dict[str, object]]
    chunks: list[list[bytes]]


def file_report(
    intake: Transport, lang: str, answers: Mapping[str, object], files: Iterable[tuple[str, str, bytes]] = ()
) -> Filed:
    """File a report as app.js does: the intake key, the report sealed here, then send_report.
    Uploads are declared, not sent."""
    public = intake_key(intake)
    report = json.dumps({"v": 1, "lang": lang, "answers": dict(answers)}).encode()
    sealed = [seal_file(public, data, name, kind) for name, kind, data in files]
    declared = [(manifest, len(chunks)) for manifest, chunks in sealed]
    answer = send_report(intake, public, report, declared, lang=lang, urgent=answers.get("danger") == "yes")
    assert answer.status == 200, f"report answered {answer.status}: {answer.raw[:300]!r}"
    reply = json.loads(answer.raw)
    return Filed(reply["token"], reply["uploads"], [chunks for _m, chunks in sealed])


def uploaded(intake: Transport, upload_id: str, secret: str) -> list[int] | None:
    """The chunk indexes the server holds for an upload (None if it does not answer with them)."""
    status, _h, raw = intake.send("GET", f"/api/upload/{upload_id}", headers={"X-Upload-Secret": secret})
    return [int(index) for index in json.loads(raw)["have"]] if status == 200 else None


def put_chunk(intake: Transport, upload_id: str, secret: str, index: int, chunk: bytes) -> int:
    """Upload one sealed chunk; answers the status."""
    return intake.send("PUT", f"/api/upload/{upload_id}/{index}", chunk, {"X-Upload-Secret": secret})[0]


def open_status(intake: Transport, token: str, lang: str = "en") -> str:
    """Open the status page with the token, as the look-up form does (CSRF, work, token)."""
    _s, _h, page = intake.send("GET", f"/{lang}/status")
    html = page.decode()
    challenge = challenge_in(html)
    body, headers = form_body(
        [
            ("csrf", csrf_in(html)),
            ("challenge", challenge),
            ("solution", solve(challenge)),
            ("token", token),
        ]
    )
    status, _h, answer = intake.send("POST", f"/{lang}/status", body, headers)
    assert status == 200, f"the token did not open the status page: {status}"
    return answer.decode()


def json_headers(csrf: str) -> dict[str, str]:
    """A JSON request carries the page's CSRF token in the X-CSRFToken header (Flask-WTF), never
    in the body: the API refuses members it does not know."""
    return {"Content-Type": "application/json", "X-CSRFToken": csrf}


def form_body(fields: Iterable[tuple[str, str]]) -> tuple[bytes, dict[str, str]]:
    return urlencode(list(fields)).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def totp_code(secret: bytes, at: float) -> str:
    return TOTP(secret, 6, SHA1(), 30).generate(at).decode()


def enrolment_secret(html: str) -> bytes:
    shown = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert shown, "the enrolment page shows the secret as text"
    raw = shown.group(1).replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def desk_login(desk: Transport, username: str, password: str, secret: bytes | None, now: Callable[[], float]) -> bytes:
    """Log in through the pages with password and TOTP (enrolling first if ``secret`` is None);
    returns the TOTP secret. The caller waits for a fresh 30 s step between two logins."""
    body, headers = form_body([("username", username), ("password", password), ("code", "")])
    if secret is not None:
        body, headers = form_body([("username", username), ("password", password), ("code", totp_code(secret, now()))])
    status, answer, _b = desk.send("POST", "/login", body, headers)
    assert status in (302, 303), f"login answered {status}"
    if answer["location"].endswith("/login/enrol"):  # first login, or the authenticator was reset
        _s, _h, page = desk.send("GET", "/login/enrol")
        secret = enrolment_secret(page.decode())
        body, headers = form_body([("code", totp_code(secret, now()))])
        status, _h, _b = desk.send("POST", "/login/enrol", body, headers)
        assert status in (302, 303), f"enrolment answered {status}"
    assert secret is not None, "the desk asked for no enrolment, and no authenticator secret was given"
    return secret
