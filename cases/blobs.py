"""The blob store: where sealed attachment chunks live, behind a small interface.

Only ciphertext is ever handed to a store. The filesystem store writes through a temporary file
in the same directory, fsyncs it, renames it and fsyncs the directory, so a crash never leaves a
half-written chunk under its final name (the temporary file holds the same ciphertext, and its
name carries the writer's pid so ``cases.blob_sweep`` can tell a dead writer's leftovers).

Files and directories get the day's midnight (UTC) as access and modification time, like every
date the server records. Their change time (ctime) cannot be set by any process: it keeps the
exact time of the last write, for whoever can list the store (its account, root) or image the
disk; the README says so.
"""

from __future__ import annotations

import calendar
import errno
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from .clock import today

_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
TEMP_PREFIX = ".tmp-"
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class StorageFull(OSError):
    """No room to store (disk or quota full): nothing was stored; ask the reporter to retry later."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def undo_on_error(self) -> AbstractContextManager[None]: ...


def chunk_key(attachment_id: str, index: int) -> str:
    return f"att/{attachment_id}/{index:08d}"


def midnight() -> int:
    """Today's midnight, UTC, in seconds: the only time a blob file or folder may show."""
    return calendar.timegm(today().timetuple())


def blur_times(path: Path) -> None:
    stamp = midnight()
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._undo = threading.local()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def _make_dirs(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, each durable and day-stamped."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir(mode=0o700, exist_ok=True)
            fsync_dir(path.parent)
            blur_times(path.parent)

    def _temp_file(self, folder: Path) -> tuple[int, str]:
        for attempt in range(3):
            try:
                self._make_dirs(folder)
                return tempfile.mkstemp(dir=folder, prefix=f"{TEMP_PREFIX}{os.getpid()}-")
            except FileNotFoundError:
                if attempt == 2:
                    raise
                # the sweep removed the (then empty) folder between our mkdir and mkstemp
            except OSError as exc:
                _raise_if_full(exc)
                raise
        raise AssertionError("unreachable")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        created = not path.exists()
        fd, tmp = self._temp_file(path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            blur_times(Path(tmp))
            os.replace(tmp, path)
            fsync_dir(path.parent)
            blur_times(path.parent)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                _raise_if_full(exc)
            raise
        journal = getattr(self._undo, "keys", None)
        if journal is not None and created:
            journal.append(key)

    @contextmanager
    def undo_on_error(self) -> Iterator[None]:
        """Delete the blobs this thread creates in the block if the block fails (e.g. a full
        disk half way through a report's files), so a rolled-back case leaves no orphan."""
        outer = getattr(self._undo, "keys", None)
        self._undo.keys = []
        try:
            yield
        except BaseException:
            for key in self._undo.keys:
                self.delete(key)
            raise
        finally:
            created, self._undo.keys = self._undo.keys, outer
            if outer is not None:
                outer.extend(created)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        if path.parent.is_dir():
            blur_times(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)
        if not folder.is_dir():
            return 0
        count = 0
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file():
                path.unlink()
                count += 1
            else:
                path.rmdir()
        folder.rmdir()
        blur_times(folder.parent)
        return count


# What a write raises when the disk may be full, the blob store's or the database's: the apps
# catch these and ask ``is_storage_full`` (any other database error is a plain failure).
WRITE_FAILURES: tuple[type[Exception], ...] = (StorageFull, DBAPIError)


def is_storage_full(exc: BaseException) -> bool:
    """A full disk or quota, whether the blob store or the database (SQLite or PostgreSQL) hit it."""
    if isinstance(exc, StorageFull):
        return True
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    return (
        getattr(cause, "sqlite_errorname", None) == "SQLITE_FULL"
        or getattr(cause, "sqlstate", None) == "53100"  # PostgreSQL disk_full
        or (isinstance(cause, OSError) and cause.errno in _FULL)
    )


def _raise_if_full(exc: OSError) -> None:
    if exc.errno in _FULL:
        raise StorageFull(exc.errno, os.strerror(exc.errno)) from exc
