"""Chunked attachment encryption: the STREAM construction (as in the age format) on AES-256-GCM.

A random 32-byte key per file; the file in 64 KiB chunks; chunk ``i`` is sealed with nonce
``uint88_be(i) || last_flag``. Because the index and the last-chunk flag are in the nonce, a
reordered, dropped, duplicated or truncated chunk fails authentication, and chunks of one file
never open under another's key. The key, name and type travel in a sealed manifest, together
with the chunk count, so the caseworker detects a truncated file even if the server lies. The
server, which stores chunks one by one for resumable uploads, does see how many chunks there are
and their sizes: a file's length is not hidden.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .envelope import Purpose, open_envelope, seal
from .errors import OpenError
from .keys import PrivateKey

CHUNK_SIZE = 64 * 1024
FILE_KEY_LEN = 32
_MAX_INDEX = 2**88 - 1
# Bounds on a manifest, which a reporter's client writes: sizes exact in a browser's JSON.parse,
# names and types far beyond any real file system's, the whole document small.
MAX_SIZE = 2**53
MAX_NAME = 1024
MAX_TYPE = 255
MAX_MANIFEST = 8192


def _nonce(index: int, last: bool) -> bytes:
    if not 0 <= index <= _MAX_INDEX:
        raise ValueError("chunk index out of range")
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def new_file_key() -> bytes:
    return os.urandom(FILE_KEY_LEN)


def encrypt_chunk(file_key: bytes, index: int, last: bool, data: bytes) -> bytes:
    if len(data) > CHUNK_SIZE:
        raise ValueError("chunk larger than CHUNK_SIZE")
    return AESGCM(file_key).encrypt(_nonce(index, last), data, None)


def decrypt_chunk(file_key: bytes, index: int, last: bool, sealed: bytes) -> bytes:
    try:
        return AESGCM(file_key).decrypt(_nonce(index, last), sealed, None)
    except (InvalidTag, ValueError) as exc:
        where = "last " if last else ""
        raise OpenError(f"{where}chunk {index} failed authentication: tampered, reordered or truncated") from exc


def chunk_count(size: int) -> int:
    """An empty file is one empty chunk; otherwise ceil(size / CHUNK_SIZE)."""
    return max(1, -(-size // CHUNK_SIZE))


def encrypt_chunks(file_key: bytes, data: bytes) -> list[bytes]:
    n = chunk_count(len(data))
    return [encrypt_chunk(file_key, i, i == n - 1, data[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]) for i in range(n)]


def decrypt_chunks(file_key: bytes, expected: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield plaintext chunk by chunk; raises OpenError on any missing, extra or altered chunk.

    Every chunk but the last must decrypt to exactly CHUNK_SIZE bytes, so a server cannot cut a
    file short by re-labelling an inner chunk as the last one (the flag would not match anyway).
    """
    if expected < 1:
        raise OpenError("manifest declares no chunks")
    seen = 0
    for index, sealed in enumerate(chunks):
        if index >= expected:
            raise OpenError(f"more chunks than the {expected} the manifest declares")
        last = index == expected - 1
        plain = decrypt_chunk(file_key, index, last, sealed)
        if not last and len(plain) != CHUNK_SIZE:
            raise OpenError(f"chunk {index} is short")
        if last and expected > 1 and not plain:
            raise OpenError("empty last chunk in a non-empty file")
        seen += 1
        yield plain
    if seen != expected:
        raise OpenError(f"file is truncated: {seen} of {expected} chunks")


@dataclass(frozen=True)
class Manifest:
    """What the caseworker needs to reassemble a file; sealed, never stored in clear."""

    name: str
    type: str
    size: int
    chunks: int
    key: bytes

    def to_json(self) -> bytes:
        key = base64.urlsafe_b64encode(self.key).rstrip(b"=").decode()
        body = {"v": 1, "name": self.name, "type": self.type, "size": self.size, "chunks": self.chunks, "key": key}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse a manifest a reporter's client wrote: anything but the documented shape, within
        bounds, is an OpenError (never RecursionError, OverflowError or a float size)."""
        body = _bounded_object(raw)
        name, type_, size, chunks, key = (body.get(k) for k in ("name", "type", "size", "chunks", "key"))
        if not (isinstance(name, str) and len(name) <= MAX_NAME and isinstance(type_, str) and len(type_) <= MAX_TYPE):
            raise OpenError("attachment manifest is malformed: name or type is not a short text")
        if not (_is_int(size) and _is_int(chunks) and isinstance(key, str) and len(key) <= 64):
            raise OpenError("attachment manifest is malformed: size, chunks or key has the wrong type")
        try:
            file_key = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
            name.encode("utf-8")
            type_.encode("utf-8")
        except ValueError as exc:  # binascii.Error and UnicodeEncodeError (lone surrogates)
            raise OpenError("attachment manifest is malformed") from exc
        if (
            body.get("v") != 1
            or not 0 <= size <= MAX_SIZE
            or len(file_key) != FILE_KEY_LEN
            or chunks != chunk_count(size)
        ):
            raise OpenError("attachment manifest is inconsistent")
        return cls(name, type_, size, chunks, file_key)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _not_integer(text: str) -> int:
    raise OpenError("attachment manifest is malformed: a number is not an integer")


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    body = dict(pairs)
    if len(body) != len(pairs):
        raise OpenError("attachment manifest is malformed: duplicate key")
    return body


def _bounded_int(text: str) -> int:
    # Checked on the text: int() of a 100,000-digit string is itself slow.
    if len(text) > 20:
        raise OpenError("attachment manifest is malformed: number out of range")
    return int(text)


def _bounded_object(raw: bytes) -> dict[str, object]:
    """The manifest's JSON object, parsed within bounds (crypto/ cannot use cases.bounded_json)."""
    if len(raw) > MAX_MANIFEST:
        raise OpenError("attachment manifest is malformed: too large")
    try:
        body = json.loads(
            raw.decode("utf-8"),
            parse_constant=_not_integer,
            parse_float=_not_integer,
            parse_int=_bounded_int,
            object_pairs_hook=_unique,
        )
    except OpenError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise OpenError("attachment manifest is malformed: not JSON") from exc
    if not isinstance(body, dict):
        raise OpenError("attachment manifest is malformed: not a JSON object")
    return body


def seal_file(recipient_public: bytes, data: bytes, name: str, type_: str) -> tuple[bytes, list[bytes]]:
    """Encrypt a whole file held in memory; returns (sealed manifest, sealed chunks)."""
    key = new_file_key()
    chunks = encrypt_chunks(key, data)
    manifest = Manifest(name=name, type=type_, size=len(data), chunks=len(chunks), key=key)
    return seal(recipient_public, Purpose.ATTACHMENT_MANIFEST, manifest.to_json()), chunks


def open_manifest(private_keys: PrivateKey | dict[bytes, PrivateKey], sealed_manifest: bytes) -> Manifest:
    return Manifest.from_json(open_envelope(private_keys, Purpose.ATTACHMENT_MANIFEST, sealed_manifest))


def open_file(
    private_keys: PrivateKey | dict[bytes, PrivateKey], sealed_manifest: bytes, chunks: Iterable[bytes]
) -> tuple[Manifest, bytes]:
    manifest = open_manifest(private_keys, sealed_manifest)
    data = b"".join(decrypt_chunks(manifest.key, manifest.chunks, chunks))
    if len(data) != manifest.size:
        raise OpenError("file size does not match its manifest")
    return manifest, data
