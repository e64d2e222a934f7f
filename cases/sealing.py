"""Files posted without JavaScript, sealed chunk by chunk while the request body is parsed.

Werkzeug writes each file part into the stream its request class makes; here that stream seals
every 64 KiB as it arrives, so the server holds at most one chunk of plaintext per file (plus a
photo whole, whose hidden metadata must be removed before it is sealed), never spools to disk,
and never copies a file three times. Files beyond the size limits are counted but not kept, so
the reporter gets their answers back with a plain message. A semaphore bounds how many requests
seal at once; when it is full, the files of a request are not kept and the page asks to retry.
The report itself is sealed here too (``seal_report``), the way app.js seals it in the browser.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from crypto.envelope import Purpose, seal
from crypto.stream import CHUNK_SIZE, Manifest, encrypt_chunk, new_file_key

from .limits import Busy, TooLarge
from .metadata import strip_metadata

CONCURRENT_SEALING = 2  # requests sealing files at once, per worker process
_PHOTO_MAGIC = (b"\xff\xd8", b"\x89PNG\r\n\x1a\n")
_PHOTO_TYPES = ("image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/x-png", "application/octet-stream", "")


@dataclass
class Budget:
    """One request's limits, shared by its files, and its hold on a sealing slot."""

    max_file: int
    max_total: int
    max_files: int
    slots: threading.BoundedSemaphore | None = None
    total: int = 0
    files: int = 0
    too_large: str = ""  # "file", "total" or "count" once a limit is passed
    busy: bool = False
    held: bool = False

    def admit(self) -> bool:
        """Take the sealing slot for this request (once); False when every slot is in use."""
        if self.slots is None or self.held:
            return not self.busy
        self.held = self.slots.acquire(blocking=False)
        self.busy = not self.held
        return self.held

    def release(self) -> None:
        if self.held and self.slots is not None:
            self.held = False
            self.slots.release()


@dataclass
class SealingFile:
    """A writable stream for one file part; ``sealed`` gives (manifest plaintext, chunks)."""

    name: str
    content_type: str
    budget: Budget
    key: bytes = field(default_factory=new_file_key)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    _pending: bytearray = field(default_factory=bytearray)
    _photo: bool | None = None  # decided on the first bytes
    _dropped: bool = False

    def write(self, data: bytes) -> int:
        if self._dropped or not data:
            return len(data)
        if self.size == 0:
            self.budget.files += 1
            if self.budget.files > self.budget.max_files:
                return self._drop("count")
            if not self.budget.admit():
                return self._drop("")
        self.size += len(data)
        self.budget.total += len(data)
        if self.size > self.budget.max_file:
            return self._drop("file")
        if self.budget.total > self.budget.max_total:
            return self._drop("total")
        self._pending += data
        if self._photo is None and len(self._pending) >= 8:
            kind = self.content_type.split(";")[0].strip().lower()
            self._photo = kind in _PHOTO_TYPES and bytes(self._pending).startswith(_PHOTO_MAGIC)
        # A chunk is sealed once more data follows it: only then is it known not to be the last.
        while not self._photo and self._photo is not None and len(self._pending) > CHUNK_SIZE:
            self.chunks.append(encrypt_chunk(self.key, len(self.chunks), False, bytes(self._pending[:CHUNK_SIZE])))
            del self._pending[:CHUNK_SIZE]
        return len(data)

    @property
    def plaintext_held(self) -> int:
        return len(self._pending)

    def _drop(self, why: str) -> int:
        self._dropped = True
        self.budget.too_large = self.budget.too_large or why
        self.chunks.clear()
        self._pending.clear()
        return 0

    def seek(self, _offset: int, _whence: int = 0) -> int:
        return 0  # werkzeug rewinds a finished part; there is nothing to read back

    def read(self, _size: int = -1) -> bytes:
        return b""  # the plaintext is gone: only the sealed chunks remain

    def finish(self, keep_original: bool) -> tuple[bytes, list[bytes]] | None:
        """Seal what is left; returns (manifest plaintext, chunks), or None if nothing was kept."""
        if self._dropped or not self.name:
            return None
        data = bytes(self._pending)
        self._pending.clear()
        if self._photo and not keep_original:
            data, _removed = strip_metadata(data, self.content_type)
        size = len(self.chunks) * CHUNK_SIZE + len(data)
        pieces = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
        for n, piece in enumerate(pieces):
            self.chunks.append(encrypt_chunk(self.key, len(self.chunks), n == len(pieces) - 1, piece))
        manifest = Manifest(name=self.name, type=self.content_type, size=size, chunks=len(self.chunks), key=self.key)
        return manifest.to_json(), self.chunks


def sealed_files(
    budget: Budget | None, streams: Iterable[object], keep_original: bool, public: bytes
) -> list[tuple[bytes, list[bytes]]]:
    """The files sealed while the body arrived, each with its manifest sealed to ``public``.

    ``streams`` are the request's file streams (only ``SealingFile`` ones hold anything). Raises
    TooLarge when a file passed a limit, Busy when the request found no sealing slot.
    """
    if budget is not None and budget.too_large:
        raise TooLarge(budget.too_large)
    if budget is not None and budget.busy:
        raise Busy()
    sealed = []
    for stream in streams:
        finished = stream.finish(keep_original) if isinstance(stream, SealingFile) else None
        if finished is not None:
            manifest, chunks = finished
            sealed.append((seal(public, Purpose.ATTACHMENT_MANIFEST, manifest), chunks))
    return sealed


def seal_report(public: bytes, document: bytes) -> bytes:
    """A report the server sealed for a browser without JavaScript, as app.js would have."""
    return seal(public, Purpose.REPORT, document)
