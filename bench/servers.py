"""Shared launch code for the benches: a throw-away installation (or just its database), either
app under gunicorn with the deploy/ settings and its log in a file, and reading every case back
as staff. The reporter's side is ``bench/protocol_client.py``.

Run benches from the repository root; gunicorn imports this checkout's code (PYTHONPATH).
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.protocol_client import HttpTransport  # noqa: E402
from cases import keyring, reports  # noqa: E402
from cases.db import Database  # noqa: E402
from cases.models import Attachment, Case, Caseworker, Submission  # noqa: E402
from crypto.envelope import Purpose, open_envelope  # noqa: E402
from crypto.errors import CryptoError  # noqa: E402
from crypto.stream import open_file  # noqa: E402

PG_URL = os.environ.get("RRI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "benchmark password, not secret"


@contextmanager
def database_url(backend: str, home: Path) -> Iterator[str]:
    """A database for one run: SQLite in ``home``, or a fresh schema on PG_URL ("postgres"),
    dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{home / 'reprisals.db'}"
        return
    schema = f"bench_{secrets.token_hex(5)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
    try:
        with database_url(backend, home) as url:
            env = {
                **os.environ,
                "RRI_HOME": str(home),
                "DATABASE_URL": url,
                "RRI_ARGON2": argon2,
                "RRI_POW_BITS": str(pow_bits),
                "PYTHONPATH": str(ROOT),
            }
            inst = Installation(home, url, env)
            done = inst.cli("init", "--admin", "admin", stdin=PASSWORD + "\n")
            if done.returncode:
                raise RuntimeError(done.stderr)
            yield inst
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- gunicorn ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deploy:
    config: str
    target: str
    bind_variable: str
    workers_variable: str | None  # None: the config fixes the number of workers


DEPLOY: dict[str, _Deploy] = {  # the apps a bench can serve
    "intake": _Deploy("deploy/gunicorn_intake.py", "intake.wsgi:app", "RRI_INTAKE_BIND", "RRI_INTAKE_WORKERS"),
    # one worker: unlocked keys and sessions live in process memory
    "desk": _Deploy("deploy/gunicorn_caseworker.py", "caseworker.wsgi:app", "RRI_CASEWORKER_BIND", None),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gunicorn:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path  # gunicorn's stdout and stderr (errors, tracebacks), appended to; may be shared

    def healthy(self, timeout: float = 5.0) -> bool:
        try:
            return HttpTransport(self.url, timeout).send("GET", "/health")[0] == 200
        except (OSError, http.client.HTTPException):
            return False

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
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_all()


def start(
    app: str,
    env: Mapping[str, str],
    log: Path,
    *,
    workers: int | None = None,
    port: int | None = None,
    startup_seconds: float = 60.0,
) -> Gunicorn:
    """Run ``app`` ("intake" or "desk") under gunicorn with its deploy/ settings on a loopback port (a free one unless
    given), this checkout on PYTHONPATH; returns once /health answers. ``workers``: the intake's
    (default the config's); the desk has one."""
    deploy = DEPLOY[app]
    port = port or free_port()
    child_env = {**env, deploy.bind_variable: f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
    if workers is not None:
        if deploy.workers_variable is None:
            raise ValueError(f"the {app} runs the workers its config sets")
        child_env[deploy.workers_variable] = str(workers)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / deploy.config), deploy.target],
            env=child_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + startup_seconds
    while not server.healthy():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"gunicorn for {app} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return server


@contextmanager
def serve(
    app: str, env: Mapping[str, str], log: Path, *, workers: int | None = None, startup_seconds: float = 60.0
) -> Iterator[Gunicorn]:
    """``start``, stopped on leaving."""
    server = start(app, env, log, workers=workers, startup_seconds=startup_seconds)
    try:
        yield server
    finally:
        server.stop()


def start_intake(inst: Installation, workers: int = 2, port: int | None = None) -> Gunicorn:
    """The intake of ``inst``, logging to gunicorn-<port>.log in its home (a restart on the same
    port appends)."""
    port = port or free_port()
    return start("intake", inst.env, inst.home / f"gunicorn-{port}.log", workers=workers, port=port)


@contextmanager
def intake_server(inst: Installation, workers: int = 2) -> Iterator[Gunicorn]:
    server = start_intake(inst, workers)
    try:
        yield server
    finally:
        server.stop()


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
