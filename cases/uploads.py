"""Resumable uploads of browser-sealed chunks, each gated by the file's upload secret.

The capability and the chunk's place in the file are checked before its body is read
(``admit``), so a client without the secret, or with a chunk that cannot fit, never gets to send
megabytes; ``store`` then writes the chunk and records it under the same lock.
"""

from __future__ import annotations

from crypto.stream import CHUNK_SIZE

from . import errors, intake_writes, reports
from .blobs import BlobStore, chunk_key
from .db import Database
from .intake_writes import NoCapability

MAX_SEALED_CHUNK = CHUNK_SIZE + 16  # a full chunk and its AEAD tag

__all__ = ["MAX_SEALED_CHUNK", "Misplaced", "NoCapability", "admit", "progress", "store"]


class Misplaced(errors.Invalid):
    """The chunk's size does not fit its place in the file."""


def progress(db: Database, attachment_id: str, secret: str) -> tuple[list[int], int]:
    """(indexes of the chunks the server holds, the file's chunk count); raises NoCapability."""
    with db.session() as session:
        state = intake_writes.lock_upload(session, attachment_id, secret)
        have = list(range(state.chunk_count)) if state.complete else reports.present_chunks_of(session, attachment_id)
        return have, state.chunk_count


def admit(db: Database, attachment_id: str, secret: str, index: int, size: int) -> bool:
    """Before reading a chunk: True if the file is already complete (nothing to store).

    Raises NoCapability, or Misplaced when the chunk cannot be the file's chunk ``index``.
    """
    with db.session() as session:
        state = intake_writes.lock_upload(session, attachment_id, secret)
    if state.complete:
        return True
    if not reports.chunk_fits(index, state.chunk_count, size):
        raise Misplaced("this chunk does not fit its place in the file")
    return False


def store(db: Database, blobs: BlobStore, attachment_id: str, secret: str, index: int, data: bytes) -> bool:
    """Store one chunk; True once the file is complete. Raises NoCapability."""
    with db.session() as session:
        # Locked again, so chunks of one file are stored one at a time; a file finished
        # meanwhile by a copy of this request is not written again.
        if intake_writes.lock_upload(session, attachment_id, secret).complete:
            return True
        blobs.put(chunk_key(attachment_id, index), data)
        return intake_writes.record_chunk(session, attachment_id, secret, index, len(data))
