"""Sweeping what killed writers left in the blob store: temporary files and unrecorded chunks.

A chunk is written (temporary file, rename) before its row is committed, so a writer killed in
between leaves a chunk no row records, and one killed mid-write leaves a temporary file named
with its pid. The sweep is safe while other workers write: a temporary file goes only if its
writer's pid is dead (writers must share this host's pid namespace) or it is older than
``grace``; an unrecorded chunk goes only once it is older than ``grace``, far longer than any
request may take between its write and its commit. Age is read from ctime, because the store
sets every mtime to the day's midnight.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from .blobs import TEMP_PREFIX, blur_times
from .db import Database
from .models import AttachmentChunk

GRACE_SECONDS = 600


@dataclass
class Swept:
    temp_files: int = 0
    orphan_chunks: int = 0
    folders: int = 0

    def summary(self) -> str:
        return (
            f"removed {self.temp_files} temporary file(s), {self.orphan_chunks} unrecorded chunk(s), "
            f"{self.folders} empty folder(s)"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _writer_dead(name: str) -> bool:
    pid = name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
    return not pid.isascii() or not pid.isdigit() or not _pid_alive(int(pid))


def sweep(root: Path, db: Database, grace: float = GRACE_SECONDS) -> Swept:
    swept = Swept()
    attachments = Path(root) / "att"
    if not attachments.is_dir():
        return swept
    cutoff = time.time() - grace
    for folder in sorted(attachments.iterdir()):
        if not folder.is_dir():
            continue
        with db.session() as session:
            recorded = set(
                session.scalars(select(AttachmentChunk.index).where(AttachmentChunk.attachment_id == folder.name))
            )
        for path in sorted(folder.iterdir()):
            try:
                old = path.lstat().st_ctime < cutoff
            except FileNotFoundError:
                continue  # its writer renamed or removed it meanwhile
            if path.name.startswith(TEMP_PREFIX):
                if old or _writer_dead(path.name):
                    path.unlink(missing_ok=True)
                    swept.temp_files += 1
            elif old and path.is_file() and not (path.name.isdigit() and int(path.name) in recorded):
                path.unlink(missing_ok=True)
                swept.orphan_chunks += 1
        try:
            folder.rmdir()  # only if empty, and never one a writer has just filled
        except OSError:
            blur_times(folder)
            continue
        swept.folders += 1
    blur_times(attachments)
    return swept
