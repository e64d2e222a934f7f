"""The blob store on a real file system: day-granular times, durable renames, a sweep that is
safe beside live writers, and a full disk that loses nothing the reporter typed and keeps nothing."""

from __future__ import annotations

import base64
import calendar
import contextlib
import dataclasses
import hashlib
import io
import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import intake
from cases import blob_sweep, installation, migrate, reports
from cases import proof_of_work as pow_module
from cases.blobs import TEMP_PREFIX, FilesystemBlobStore, StorageFull, chunk_key
from cases.clock import today
from cases.config import Settings
from cases.db import Database
from cases.in_flight import Holds
from cases.intake_keys import current
from cases.models import Attachment, AttachmentChunk, Base, Case, SealedIn
from cases.proof_of_work import leading_zero_bits
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file
from intake import context

from .conftest import BACKEND, Installed
from .factories import file_case
from .reporter_helpers import document

MIDNIGHT = calendar.timegm(today().timetuple())


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_blob_files_and_folders_show_only_the_day(blobs: FilesystemBlobStore) -> None:
    blobs.put(chunk_key("abc", 0), b"sealed")
    blobs.put(chunk_key("abc", 1), b"sealed")
    blobs.delete(chunk_key("abc", 1))
    for path in (blobs.root / "att", blobs.root / "att" / "abc", blobs.root / "att" / "abc" / "00000000"):
        info = path.stat()
        assert (info.st_atime, info.st_mtime) == (MIDNIGHT, MIDNIGHT), path


def test_renames_are_made_durable_by_fsyncing_the_folder(
    blobs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    blobs.put(chunk_key("abc", 0), b"sealed")
    assert False in synced and synced[-1] is True, "the chunk's folder must be fsynced after the rename"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_what_dead_writers_left_and_nothing_else(
    blobs: FilesystemBlobStore, database: Database, installed: Installed
) -> None:
    with database.session() as session:
        public = current(session).public_key
        case = session.get_one(Case, file_case(session, raw_report=b"{}").case_id)
        manifest, chunks = seal_file(public, document(), "a.txt", "text/plain")
        attachment = reports.start_attachment(session, case, manifest, len(chunks))
        reports.put_chunk(session, blobs, attachment, 0, chunks[0])
        folder = blobs.root / "att" / attachment.id
    (folder / "00000001").write_bytes(chunks[1])  # renamed, then killed before its row committed
    dead = folder / f"{TEMP_PREFIX}{_dead_pid()}-x1"
    live = folder / f"{TEMP_PREFIX}{os.getpid()}-x2"  # a writer that is still writing
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    (blobs.root / "att" / "gone").mkdir()
    (blobs.root / "att" / "gone" / "00000000").write_bytes(b"case rolled back")

    young = blob_sweep.sweep(blobs.root, database)  # default grace: a writer may still commit
    assert (young.temp_files, young.orphan_chunks) == (1, 0)
    assert not dead.exists() and live.exists() and (folder / "00000001").exists()

    swept = blob_sweep.sweep(blobs.root, database, grace=0)
    assert (swept.orphan_chunks, swept.folders) == (2, 1)
    assert _files(blobs.root) == [folder / "00000000"]  # the recorded chunk stays


@pytest.mark.slow
def test_sweep_command_reports_what_it_removed(env: dict[str, str], blobs: FilesystemBlobStore) -> None:
    from .cli_helpers import init

    init(env)
    orphan = blobs.root / "att" / "x" / "00000000"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"ciphertext")
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "sweep", "--grace", "0"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "1 unrecorded chunk(s)" in out.stdout
    assert not orphan.exists()


# A full disk, for real where the test may mount a small tmpfs (root), else a store that runs out.


class _ShrinkingStore(FilesystemBlobStore):
    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.room:
            raise StorageFull(28, "No space left on device")
        self.room -= len(data)
        super().put(key, data)


@dataclasses.dataclass
class Disk:
    root: Path
    mounted: bool

    def grow(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,size=4m", str(self.root)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Disk]:
    root = tmp_path / "small"
    root.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", f"rri-{uuid.uuid4().hex[:8]}", str(root)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield Disk(root, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def full_app(
    settings: Settings, database: Database, installed: Installed, small_disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> Flask:
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)
    app = intake.create_app(dataclasses.replace(settings, pow_bits=1, blob_dir=small_disk.root), database)
    if not small_disk.mounted:
        context.intake(app).filing.blobs = _ShrinkingStore(small_disk.root, 200_000)
    return app


def _hidden_fields(client: FlaskClient, path: str) -> dict[str, str]:
    html = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    if fields.get("challenge"):
        fields["solution"] = _solve(fields["challenge"])
    return fields


def _solve(challenge: str) -> str:
    bits = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))[4]
    for n in range(1 << 20):
        if leading_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) >= bits:
            return str(n)
    raise AssertionError("no solution")


def _count(database: Database, model: type[Base]) -> int:
    with database.session() as session:
        return session.scalars(select(func.count()).select_from(model)).one()


def test_full_disk_keeps_the_no_js_report_and_stores_nothing(
    full_app: Flask, database: Database, small_disk: Disk
) -> None:
    client = full_app.test_client()
    fields = _hidden_fields(client, "/fr/")
    typed = "Ils sont venus la nuit, ANSWER-KEPT"
    files = [(document(100_000), "a.txt"), (document(300_000), "b.txt")]  # the second does not fit
    data = {**fields, "what_happened": typed, "files": [(io.BytesIO(body), name) for body, name in files]}
    response = client.post("/fr/report", data=data, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"].isdigit()
    assert "Nous ne pouvons rien enregistrer" in html and "réessayer plus tard" in html
    assert typed in html, "the reporter's answers must come back in the form"
    assert "Traceback" not in html
    assert (_count(database, Case), _count(database, Attachment)) == (0, 0)
    assert _files(small_disk.root) == [], "no chunk of the rolled-back report may stay behind"


def test_full_disk_refuses_a_chunk_cleanly_and_the_upload_resumes(
    full_app: Flask, database: Database, small_disk: Disk
) -> None:
    work = context.intake(full_app).filing
    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, document(600_000), "big.txt", "text/plain")
    receipt = work.file_report(
        envelope=seal(public, Purpose.REPORT, b"{}"),
        sealed_in=SealedIn.BROWSER,
        urgent=False,
        nonce="n-" + uuid.uuid4().hex,
        holds=Holds(),
        declared=[(manifest, len(chunks))],
    )
    upload = receipt.uploads[0]
    client = full_app.test_client()
    url, headers = f"/api/upload/{upload.id}", {"X-Upload-Secret": upload.secret}
    refused = None
    for index, chunk in enumerate(chunks):
        answer = client.put(f"{url}/{index}", data=chunk, headers=headers)
        if answer.status_code != 200:
            refused = answer
            break
    assert refused is not None, "the small disk should have filled up"
    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
    assert "error" in refused.get_json()
    have = client.get(url, headers=headers).get_json()["have"]
    on_disk = [p.name for p in _files(small_disk.root)]
    assert on_disk == [f"{i:08d}" for i in have], "a refused chunk leaves no file or temporary file"
    assert _count(database, AttachmentChunk) == len(have)

    if not small_disk.mounted:
        cast(_ShrinkingStore, work.blobs).room = 10**9
    small_disk.grow()
    for index in range(len(chunks)):
        if index not in have:
            assert client.put(f"{url}/{index}", data=chunks[index], headers=headers).status_code == 200
    assert client.get(url, headers=headers).get_json()["have"] == list(range(len(chunks)))
    with database.session() as session:
        assert session.get_one(Attachment, upload.id).complete


@pytest.mark.slow
def test_gunicorn_sweeps_dead_writers_leftovers_at_start(env: dict[str, str], settings: Settings) -> None:
    from .cli_helpers import init
    from .production import gunicorn_app
    from .test_anonymous_logging import _visit

    init(env)
    leftover = settings.blob_dir / "att" / "x" / f"{TEMP_PREFIX}{_dead_pid()}-abc"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a chunk")
    with gunicorn_app("intake", env, RRI_INTAKE_WORKERS="1") as server:
        _visit(server.port)
    log = server.log()
    assert "blob store sweep: removed 1 temporary file(s)" in log, log
    assert not leftover.exists()


@pytest.mark.skipif(BACKEND != "sqlite", reason="fills the disk under an SQLite file")
def test_full_database_disk_keeps_the_no_js_report_too(
    settings: Settings, small_disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not small_disk.mounted:
        pytest.skip("needs a small tmpfs (root)")
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk.root)], check=True)
    database = Database(f"sqlite:///{small_disk.root / 'reprisals.db'}")
    migrate.upgrade(database.engine)
    with database.session() as session:
        installation.initialise(session, "admin", "a long enough password here", settings.argon2)
    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)
    app = intake.create_app(dataclasses.replace(settings, pow_bits=1), database)
    client = app.test_client()
    fields = _hidden_fields(client, "/es/")
    filler = os.open(small_disk.root / "filler", os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while True:
            os.write(filler, b"\0" * 4096)
    os.close(filler)
    typed = "Vinieron de noche, ANSWER-KEPT"
    response = client.post("/es/report", data={**fields, "what_happened": typed})
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert typed in html and "Traceback" not in html
    (small_disk.root / "filler").unlink()
    assert _count(database, Case) == 0
    database.engine.dispose()
