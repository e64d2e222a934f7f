"""Opening a case's files for a caseworker: every chunk authenticated before the first byte leaves.

A damaged, truncated or foreign file is refused (and the refusal audited), never half-delivered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crypto.errors import OpenError
from crypto.stream import Manifest, decrypt_chunks, open_manifest

from . import audit, errors
from .blobs import BlobStore, chunk_key
from .casefile import get
from .models import Attachment
from .reading import ID_SHAPE, Keys, shown_name


class NoSuchFile(errors.NotFound):
    def __init__(self) -> None:
        super().__init__("no such file")


class Unopenable(errors.Refused):
    """The file cannot be handed out; the message tells the caseworker what to do."""


@dataclass(frozen=True)
class OpenedFile:
    """A verified file, ready to stream: ``chunks()`` decrypts (and authenticates) it again as it goes."""

    name: str  # as a caseworker may see it (bidirectional controls made visible)
    size: int
    _blobs: BlobStore
    _attachment_id: str
    _manifest: Manifest

    def chunks(self) -> Iterator[bytes]:
        return _plaintext(self._blobs, self._attachment_id, self._manifest)


def _plaintext(blobs: BlobStore, attachment_id: str, manifest: Manifest) -> Iterator[bytes]:
    sealed = (blobs.get(chunk_key(attachment_id, i)) for i in range(manifest.chunks))
    return decrypt_chunks(manifest.key, manifest.chunks, sealed)


def _verify(blobs: BlobStore, attachment_id: str, manifest: Manifest) -> None:
    """Authenticate every chunk, and the size, before anything is sent."""
    if sum(len(part) for part in _plaintext(blobs, attachment_id, manifest)) != manifest.size:
        raise OpenError("file size does not match its manifest")


def open_file(
    session: Session, blobs: BlobStore, case_id: str, attachment_id: str, keys: Keys, actor_id: int
) -> OpenedFile:
    case = get(session, case_id)
    attachment = session.get(Attachment, attachment_id) if ID_SHAPE.fullmatch(attachment_id) else None
    if attachment is None or attachment.case_id != case.id:
        raise NoSuchFile()

    def refuse(reason: str, message: str) -> Unopenable:
        detail = f"attachment={attachment.id} reason={reason}"
        audit.record(session, "file.refused", actor_id=actor_id, case_id=case.id, detail=detail)
        return Unopenable(message)

    if not attachment.complete:
        raise refuse(
            "incomplete",
            "This file never finished uploading, so it cannot be opened. Ask the reporter to send it again.",
        )
    try:
        manifest = open_manifest(keys, attachment.manifest)
        _verify(blobs, attachment.id, manifest)
    except (OpenError, KeyError):
        raise refuse(
            "unreadable", "This file cannot be opened: it is damaged, incomplete, or sealed to a key you do not hold."
        ) from None
    audit.record(session, "file.download", actor_id=actor_id, case_id=case.id, detail=f"attachment={attachment.id}")
    return OpenedFile(shown_name(manifest.name), manifest.size, blobs, attachment.id, manifest)
