"""kill -9 of the intake under gunicorn at random moments, then checks (a benchmark, not a test).

    .venv/bin/python bench/crash.py [--kills 100] [--backend sqlite|postgres|both] [--seed N]

Reporters keep filing reports with files and uploading chunks through the JSON API while a
random gunicorn worker, or the master with all its workers (a crashed container), is killed
with SIGKILL at a random moment; a killed master is restarted (its on_starting hook sweeps).
Afterwards, with the server stopped and ``reprisals sweep --grace 0`` run:

- the database is sound (SQLite integrity_check) and no case lacks its sealed envelope;
- no blob file or temporary file is unrecorded, no recorded chunk lacks its file;
- no attachment marked complete is short or fails to decrypt;
- every upload resumes (reports whose answer was lost are resent with the same nonce), and
  every file then decrypts to the bytes the reporter sealed; no answered report is lost;
- the restarted app serves a new report.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from servers import Gunicorn, Installation, installation, read_everything, start_intake
from sqlalchemy import func, select, text

from bench import protocol_client as client
from cases.blobs import TEMP_PREFIX
from cases.models import Attachment, AttachmentChunk, Case, Submission
from crypto.stream import seal_file


@dataclass
class Sent:
    nonce: str
    report: bytes
    files: list[tuple[bytes, bytes, list[bytes]]]  # plaintext, manifest, sealed chunks
    uploads: list[tuple[str, str]] = field(default_factory=list)  # id, secret (once answered)
    answered: bool = False


def reporter(base: str) -> client.HttpTransport:
    """A reporter's browser: its own cookie jar (the CSRF session)."""
    return client.HttpTransport(base, timeout=120)


class Reporters:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.sent: list[Sent] = []
        self.lock = threading.Lock()

    def new(self) -> Sent:
        report = json.dumps({"v": 1, "crash": secrets.token_hex(8)}).encode()
        data = secrets.token_bytes(random.randint(70_000, 300_000))
        manifest, chunks = seal_file(self.key, data, "evidence.bin", "application/octet-stream")
        sent = Sent(secrets.token_urlsafe(18), report, [(data, manifest, chunks)])
        with self.lock:
            self.sent.append(sent)
        return sent

    def file(self, base: str, sent: Sent) -> bool:
        declared = [(manifest, len(chunks)) for _d, manifest, chunks in sent.files]
        answer = client.send_report(reporter(base), self.key, sent.report, declared, sent.nonce)
        if answer.status != 200:
            return False
        sent.answered = sent.answered or bool(answer.body.get("token"))
        ups = answer.body.get("uploads")
        sent.uploads = [(str(u["id"]), str(u["secret"])) for u in ups] if isinstance(ups, list) else []
        return True

    def upload(self, base: str, sent: Sent) -> bool:
        intake = reporter(base)
        for (upload_id, secret), (_data, _m, chunks) in zip(sent.uploads, sent.files, strict=False):
            have = client.uploaded(intake, upload_id, secret)
            if have is None:
                return False
            for index, chunk in enumerate(chunks):
                if index not in have and client.put_chunk(intake, upload_id, secret, index, chunk) != 200:
                    return False
        return True


def traffic(base: str, reporters: Reporters, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sent = reporters.new()
            if reporters.file(base, sent):
                reporters.upload(base, sent)
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)  # the server was killed under this request


def wait_healthy(server: Gunicorn, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.healthy():
            return
        time.sleep(0.1)
    raise RuntimeError("the intake did not come back")


def stray_files(inst: Installation) -> tuple[int, int, int]:
    """(unrecorded blob files, temporary files, recorded chunks without a file)."""
    root = inst.home / "blobs" / "att"
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    temps = [p for p in files if p.name.startswith(TEMP_PREFIX)]
    db = inst.database()
    with db.session() as session:
        rows = session.execute(select(AttachmentChunk.attachment_id, AttachmentChunk.index))
        recorded = {(attachment_id, f"{index:08d}") for attachment_id, index in rows}
    db.engine.dispose()
    on_disk = {(p.parent.name, p.name) for p in files if p not in temps}
    return len(on_disk - recorded), len(temps), len(recorded - on_disk)


def database_checks(inst: Installation) -> tuple[str, int, int]:
    db = inst.database()
    with db.session() as session:
        integrity = "n/a"
        if db.engine.dialect.name == "sqlite":
            integrity = str(session.execute(text("PRAGMA integrity_check")).scalar())
        bare = session.scalar(select(func.count()).select_from(Case).where(~Case.id.in_(select(Submission.case_id))))
        short = 0
        for attachment in session.scalars(select(Attachment).where(Attachment.complete.is_(True))):
            count = session.scalar(
                select(func.count()).select_from(AttachmentChunk).where(AttachmentChunk.attachment_id == attachment.id)
            )
            short += count != attachment.chunk_count
    db.engine.dispose()
    return integrity, int(bare or 0), short


def run(backend: str, kills: int, rng: random.Random) -> bool:
    with installation(backend) as inst:
        server = start_intake(inst, workers=2)
        port = int(server.url.rsplit(":", 1)[1])
        reporters = Reporters(client.intake_key(reporter(server.url)))
        killed = {"worker": 0, "master": 0}
        started = time.monotonic()
        for _ in range(kills):
            stop = threading.Event()
            clients = [threading.Thread(target=traffic, args=(server.url, reporters, stop)) for _ in range(4)]
            for thread in clients:
                thread.start()
            time.sleep(rng.uniform(0.05, 1.5))
            workers = server.workers()
            if workers and rng.random() < 0.7:
                killed["worker"] += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(workers), signal.SIGKILL)
            else:
                killed["master"] += 1
                server.kill_all()
                server = start_intake(inst, workers=2, port=port)
            stop.set()
            for thread in clients:
                thread.join()
            wait_healthy(server)
        server.stop()
        swept = inst.cli("sweep", "--grace", "0").stdout.strip()
        server = start_intake(inst, workers=2, port=port)
        resumed = failed = 0
        for sent in reporters.sent:
            # a lost answer: resend the same nonce, as the browser does
            if (not sent.uploads or not sent.answered) and not reporters.file(server.url, sent):
                continue
            if reporters.upload(server.url, sent):
                resumed += 1
            else:
                failed += 1
        fresh = reporters.new()
        serves = reporters.file(server.url, fresh) and reporters.upload(server.url, fresh)
        server.stop()
        elapsed = time.monotonic() - started
        integrity, bare, short = database_checks(inst)
        unrecorded, temps, missing = stray_files(inst)
        back = read_everything(inst)
        expected = {m: d for s in reporters.sent if s.uploads for d, m, _c in s.files}
        answered = {s.report for s in reporters.sent if s.answered}
        lost_reports = len(answered - set(back.reports))
        db = inst.database()
        with db.session() as session:
            manifests = {aid: manifest for aid, manifest in session.execute(select(Attachment.id, Attachment.manifest))}
        db.engine.dispose()
        wrong = sum(1 for aid, data in back.files.items() if expected.get(manifests[aid], data) != data)
        incomplete = sum(1 for m in expected if m not in {manifests[a] for a in back.files})
    print(f"\n== {backend}: {kills} kill -9 ({killed['worker']} worker, {killed['master']} master) in {elapsed:.0f} s")
    print(f"reports sent {len(reporters.sent)}, answered {len(answered)}; sweep afterwards: {swept}")
    print(f"integrity: {integrity}; cases without envelope: {bare}; complete-but-short uploads: {short}")
    print(f"unrecorded blobs: {unrecorded}, temporary files: {temps}, recorded chunks without file: {missing}")
    print(f"uploads resumed: {resumed}, failed to resume: {failed}, still incomplete: {incomplete}")
    print(f"damaged complete files: {len(back.damaged)}, wrong bytes: {wrong}, answered reports lost: {lost_reports}")
    print(f"app serves a new report with a file afterwards: {bool(serves)}")
    return (
        integrity in ("ok", "n/a")
        and (bare, short, unrecorded, temps, missing, failed, incomplete, wrong, lost_reports) == (0,) * 9
        and not back.damaged
        and bool(serves)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    print(f"seed {seed}")
    rng = random.Random(seed)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    ok = all([run(backend, args.kills, rng) for backend in backends])
    print("\nOK" if ok else "\nFAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
