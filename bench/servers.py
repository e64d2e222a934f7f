"""Shared launch code for the benches: a throw-away installation, the intake under gunicorn with
the deploy/ settings, a reporter client for the JSON API, and reading every case back as staff.

Run benches from the repository root; gunicorn imports this checkout's code (PYTHONPATH).
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cases import keyring, reports  # noqa: E402
from cases.db import Database  # noqa: E402
from cases.models import Attachment, Case, Caseworker, Submission  # noqa: E402
from crypto.envelope import Purpose, open_envelope, seal  # noqa: E402
from crypto.errors import CryptoError  # noqa: E402
from crypto.stream import open_file, seal_file  # noqa: E402
from intake.pow import leading_zero_bits  # noqa: E402

PG_URL = os.environ.get("RRI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "benchmark password, not secret"


@dataclass
class Installation:
    home: Path
    database_url: str
    env: dict[str, str]

    def database(self) -> Database:
        return Database(self.database_url)

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args], input=stdin, env=self.env, capture_output=True, text=True
        )


@contextmanager
def installation(backend: str, argon2: str = "testing", pow_bits: int = 8) -> Iterator[Installation]:
    """A fresh installation on SQLite (temporary folder) or a fresh PostgreSQL schema."""
    home = Path(tempfile.mkdtemp(prefix="rri-bench-"))
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{home / 'reprisals.db'}"
    else:
        schema = f"bench_{secrets.token_hex(5)}"
        with create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    env = {
        **os.environ,
        "RRI_HOME": str(home),
        "DATABASE_URL": url,
        "RRI_ARGON2": argon2,
        "RRI_POW_BITS": str(pow_bits),
        "PYTHONPATH": str(ROOT),
    }
    inst = Installation(home, url, env)
    try:
        done = inst.cli("init", "--admin", "admin", stdin=PASSWORD + "\n")
        if done.returncode:
            raise RuntimeError(done.stderr)
        yield inst
    finally:
        if schema:
            with create_engine(PG_URL, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        shutil.rmtree(home, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gunicorn:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        """kill -9 of the master and every worker at once, as a crashed host or container."""
        with_workers = [self.proc.pid, *self.workers()]
        for pid in with_workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def errors(self) -> Counter[str]:
        """The exceptions in the server's log, by their last traceback line (the cause)."""
        causes: Counter[str] = Counter()
        in_traceback = False
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("Exception on "):
                causes[line.split(" [", 1)[0] + "]"] += 1  # the route, listed beside its causes
            if line.startswith("Traceback"):
                in_traceback = True
            elif in_traceback and line and not line.startswith(" "):
                causes[line[:160]] += 1
                in_traceback = False
        return causes

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_all()


def start_intake(inst: Installation, workers: int = 2, port: int | None = None) -> Gunicorn:
    port = port or free_port()
    log = inst.home / f"gunicorn-{port}.log"
    env = {**inst.env, "RRI_INTAKE_BIND": f"127.0.0.1:{port}", "RRI_INTAKE_WORKERS": str(workers)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn_intake.py"), "intake.wsgi:app"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=5) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


@contextmanager
def intake_server(inst: Installation, workers: int = 2) -> Iterator[Gunicorn]:
    server = start_intake(inst, workers)
    try:
        yield server
    finally:
        server.stop()


# -- the reporter client ----------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def solve(challenge: str) -> str:
    bits = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))[4]
    prefix = challenge.encode() + b":"
    n = 0
    while leading_zero_bits(hashlib.sha256(prefix + str(n).encode()).digest()) < bits:
        n += 1
    return str(n)


@dataclass
class Answer:
    status: int
    body: dict[str, object]
    retry_after: int | None = None


@dataclass
class Reporter:
    """One reporter's browser: its own cookie jar (the CSRF session)."""

    base: str
    opener: urllib.request.OpenerDirector = field(init=False)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(
        self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=120) as answer:
                return answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def send_report(self, public_key: bytes, report: bytes, files: list[tuple[bytes, int]], nonce: str) -> Answer:
        """The JSON API as app.js uses it: form page (CSRF session, challenge), work, POST.

        The CSRF token goes both in the body and in an X-CSRFToken header, so this works with
        either CSRF scheme of the intake."""
        _status, page, _headers = self.request("GET", "/en/")
        fields = dict(re.findall(rb'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        csrf = (fields.get(b"csrf_token") or fields.get(b"csrf") or b"").decode()
        challenge = fields[b"challenge"].decode()
        body = {
            "csrf": csrf,
            "csrf_token": csrf,
            "challenge": challenge,
            "solution": solve(challenge),
            "nonce": nonce,
            "urgent": False,
            "report": b64(seal(public_key, Purpose.REPORT, report)),
            "files": [{"manifest": b64(manifest), "chunks": count} for manifest, count in files],
        }
        status, raw, headers = self.request(
            "POST",
            "/en/api/report",
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "X-CSRFToken": csrf},
        )
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        retry = headers.get("Retry-After")
        return Answer(status, parsed if isinstance(parsed, dict) else {}, int(retry) if retry else None)

    def put_chunk(self, upload_id: str, secret: str, index: int, chunk: bytes) -> int:
        return self.request("PUT", f"/api/upload/{upload_id}/{index}", chunk, {"X-Upload-Secret": secret})[0]

    def have(self, upload_id: str, secret: str) -> list[int] | None:
        status, raw, _ = self.request("GET", f"/api/upload/{upload_id}", headers={"X-Upload-Secret": secret})
        return list(json.loads(raw)["have"]) if status == 200 else None


def intake_public_key(base: str) -> bytes:
    with urllib.request.urlopen(base + "/intake-key", timeout=10) as answer:
        key = json.loads(answer.read())["public_key"]
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))


def sealed_file(public_key: bytes, data: bytes, name: str) -> tuple[bytes, list[bytes]]:
    return seal_file(public_key, data, name, "application/octet-stream")


# -- reading back as staff --------------------------------------------------------------------


@dataclass
class Readback:
    reports: list[bytes]  # every report's plaintext, one per case
    unreadable: int  # cases whose envelope is missing or does not open
    files: dict[str, bytes]  # attachment id -> plaintext, for complete attachments that open
    damaged: list[str]  # complete attachments that do not open


def read_everything(inst: Installation, blob_dir: Path | None = None) -> Readback:
    from cases.blobs import FilesystemBlobStore

    db = inst.database()
    blobs = FilesystemBlobStore(blob_dir or inst.home / "blobs")
    out = Readback([], 0, {}, [])
    try:
        with db.session() as session:
            admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
            keys = keyring.unlock(session, admin, PASSWORD).private_keys()
            envelopes = {s.case_id: s.envelope for s in session.scalars(select(Submission))}
            for case_id in session.scalars(select(Case.id)):
                try:
                    out.reports.append(open_envelope(keys, Purpose.REPORT, envelopes[case_id]))
                except (KeyError, CryptoError):
                    out.unreadable += 1
            for attachment in session.scalars(select(Attachment).where(Attachment.complete.is_(True))):
                try:
                    chunks = reports.read_chunks(blobs, attachment)
                    out.files[attachment.id] = open_file(keys, attachment.manifest, chunks)[1]
                except (KeyError, CryptoError, ValueError):
                    out.damaged.append(attachment.id)
    finally:
        db.engine.dispose()
    return out
