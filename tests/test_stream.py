"""Chunked attachments (crypto.stream): round trips around chunk boundaries and every stream attack."""

from __future__ import annotations

import functools
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.envelope import Purpose, seal
from crypto.errors import OpenError, WrongPurpose
from crypto.keys import KeyPair
from crypto.stream import (
    CHUNK_SIZE,
    Manifest,
    chunk_count,
    decrypt_chunks,
    encrypt_chunk,
    encrypt_chunks,
    open_file,
    open_manifest,
    seal_file,
)

RECIPIENT = KeyPair.generate()
OTHER = KeyPair.generate()
TAG = 16


def _data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


@functools.cache
def _three_chunk_file(which: str = "a") -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """(plaintext, sealed manifest, sealed chunks) of a file of 2 full chunks and a partial one."""
    data = _data(2 * CHUNK_SIZE + 1000, seed=ord(which))
    manifest, chunks = seal_file(RECIPIENT.public, data, f"{which}.bin", "application/octet-stream")
    assert len(chunks) == 3
    return data, manifest, tuple(chunks)


def _open(manifest: bytes, chunks) -> bytes:
    return open_file(RECIPIENT.private, manifest, list(chunks))[1]


# --- round trips -------------------------------------------------------------------------------


def test_chunk_size_is_64_kib() -> None:
    assert CHUNK_SIZE == 65536


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(0, 1), (1, 1), (65535, 1), (65536, 1), (65537, 2), (2 * 65536, 2), (3 * 65536, 3), (3 * 65536 + 1, 4)],
)
def test_round_trip_at_chunk_boundaries(size: int, chunks: int) -> None:
    data = _data(size)
    manifest, sealed = seal_file(RECIPIENT.public, data, "report.pdf", "application/pdf")
    assert chunk_count(size) == chunks
    assert len(sealed) == chunks
    # every chunk but the last is full; each carries a 16-byte tag
    assert all(len(c) == CHUNK_SIZE + TAG for c in sealed[:-1])
    assert len(sealed[-1]) == size - (chunks - 1) * CHUNK_SIZE + TAG
    opened_manifest, opened = open_file(RECIPIENT.private, manifest, sealed)
    assert opened == data
    assert (opened_manifest.name, opened_manifest.type) == ("report.pdf", "application/pdf")
    assert (opened_manifest.size, opened_manifest.chunks) == (size, chunks)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.one_of(
        st.integers(0, 4 * CHUNK_SIZE + 10),
        st.sampled_from([CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1]).flatmap(
            lambda b: st.integers(1, 3).map(lambda k: b + (k - 1) * CHUNK_SIZE)
        ),
    ),
    seed=st.integers(0, 2**32),
    name=st.text(max_size=40),
    type_=st.text(max_size=40),
)
def test_round_trip_any_size(size: int, seed: int, name: str, type_: str) -> None:
    data = _data(size, seed)
    manifest, chunks = seal_file(RECIPIENT.public, data, name, type_)
    opened_manifest, opened = open_file(RECIPIENT.private, manifest, iter(chunks))
    assert opened == data
    assert (opened_manifest.name, opened_manifest.type, opened_manifest.size) == (name, type_, size)


def test_every_file_gets_a_fresh_key() -> None:
    m1, c1 = seal_file(RECIPIENT.public, b"same", "a", "t")
    m2, c2 = seal_file(RECIPIENT.public, b"same", "a", "t")
    assert open_manifest(RECIPIENT.private, m1).key != open_manifest(RECIPIENT.private, m2).key
    assert c1 != c2


def test_manifest_is_sealed_for_the_attachment_manifest_purpose() -> None:
    manifest, _ = seal_file(RECIPIENT.public, b"x", "a", "t")
    assert manifest[4] == Purpose.ATTACHMENT_MANIFEST


# --- chunk-level attacks -----------------------------------------------------------------------


def test_dropped_last_chunk() -> None:
    _, manifest, chunks = _three_chunk_file()
    with pytest.raises(OpenError, match=r"truncated: 2 of 3 chunks"):
        _open(manifest, chunks[:-1])


def test_all_chunks_dropped() -> None:
    _, manifest, _ = _three_chunk_file()
    with pytest.raises(OpenError, match=r"truncated: 0 of 3 chunks"):
        _open(manifest, [])


def test_dropped_middle_chunk() -> None:
    _, manifest, (c0, _, c2) = _three_chunk_file()
    with pytest.raises(OpenError, match=r"chunk 1 failed authentication"):
        _open(manifest, [c0, c2])


@pytest.mark.parametrize("order", [(1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_reordered_chunks(order: tuple[int, int, int]) -> None:
    _, manifest, chunks = _three_chunk_file()
    with pytest.raises(OpenError, match=r"chunk \d failed authentication"):
        _open(manifest, [chunks[i] for i in order])


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ((0, 0, 1, 2), r"chunk 1 failed authentication"),
        ((0, 1, 1, 2), r"last chunk 2 failed authentication"),
        ((0, 1, 2, 2), r"more chunks than the 3"),
        ((0, 1, 1), r"last chunk 2 failed authentication"),
    ],
)
def test_duplicated_chunk(order: tuple[int, ...], message: str) -> None:
    _, manifest, chunks = _three_chunk_file()
    with pytest.raises(OpenError, match=message):
        _open(manifest, [chunks[i] for i in order])


def test_extra_chunk_even_if_validly_encrypted() -> None:
    """An extra chunk fails even when made with the file key (which the server does not have)."""
    data, manifest, chunks = _three_chunk_file()
    key = open_manifest(RECIPIENT.private, manifest).key
    for extra in (
        encrypt_chunk(key, 3, True, b"appended"),
        encrypt_chunk(key, 3, False, b"appended"),
        bytes(TAG),
        chunks[-1],
    ):
        with pytest.raises(OpenError, match=r"more chunks than the 3 the manifest declares"):
            _open(manifest, [*chunks, extra])
    assert _open(manifest, chunks) == data


def test_chunk_from_another_file() -> None:
    _, manifest_a, chunks_a = _three_chunk_file("a")
    _, _, chunks_b = _three_chunk_file("b")
    for i in range(3):
        mixed = list(chunks_a)
        mixed[i] = chunks_b[i]
        with pytest.raises(OpenError, match=rf"chunk {i} failed authentication"):
            _open(manifest_a, mixed)


@settings(max_examples=40, deadline=None)
@given(chunk=st.integers(0, 2), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_bit_flip_in_any_chunk(chunk: int, where: float, bit: int) -> None:
    _, manifest, chunks = _three_chunk_file()
    tampered = bytearray(chunks[chunk])
    tampered[int(where * len(tampered))] ^= 1 << bit
    mixed = list(chunks)
    mixed[chunk] = bytes(tampered)
    with pytest.raises(OpenError, match=rf"chunk {chunk} failed authentication"):
        _open(manifest, mixed)


def test_every_bit_of_a_small_file_chunk_is_authenticated() -> None:
    manifest, (chunk,) = seal_file(RECIPIENT.public, b"tiny attachment", "t.txt", "text/plain")
    for position in range(len(chunk)):
        for bit in range(8):
            tampered = bytearray(chunk)
            tampered[position] ^= 1 << bit
            with pytest.raises(OpenError, match="chunk 0 failed authentication"):
                _open(manifest, [bytes(tampered)])


@pytest.mark.parametrize("cut", [0, 1, TAG - 1, TAG, 100])
def test_truncated_chunk(cut: int) -> None:
    _, manifest, chunks = _three_chunk_file()
    for i in range(3):
        mixed = list(chunks)
        mixed[i] = chunks[i][: len(chunks[i]) - cut - 1]
        with pytest.raises(OpenError, match=rf"chunk {i} failed authentication"):
            _open(manifest, mixed)


def test_inner_chunk_presented_as_last() -> None:
    """Even a manifest re-sealed by someone holding the key cannot make an inner chunk the last."""
    _, manifest, chunks = _three_chunk_file()
    real = open_manifest(RECIPIENT.private, manifest)
    short = Manifest(real.name, real.type, 2 * CHUNK_SIZE, 2, real.key)
    forged = seal(RECIPIENT.public, Purpose.ATTACHMENT_MANIFEST, short.to_json())
    with pytest.raises(OpenError, match=r"last chunk 1 failed authentication"):
        _open(forged, chunks[:2])
    # the same at the chunk layer, without any manifest
    with pytest.raises(OpenError, match=r"last chunk 1 failed authentication"):
        list(decrypt_chunks(real.key, 2, chunks[:2]))


def test_last_chunk_presented_as_inner() -> None:
    _, manifest, chunks = _three_chunk_file()
    real = open_manifest(RECIPIENT.private, manifest)
    longer = Manifest(real.name, real.type, 4 * CHUNK_SIZE, 4, real.key)
    forged = seal(RECIPIENT.public, Purpose.ATTACHMENT_MANIFEST, longer.to_json())
    with pytest.raises(OpenError, match=r"chunk 2 failed authentication"):
        _open(forged, [*chunks, encrypt_chunk(real.key, 3, True, bytes(CHUNK_SIZE))])


def test_short_inner_chunk_is_rejected() -> None:
    """decrypt_chunks refuses an inner chunk that is not full, even if it authenticates."""
    key = bytes(32)
    chunks = [encrypt_chunk(key, 0, False, b"short"), encrypt_chunk(key, 1, True, b"end")]
    with pytest.raises(OpenError, match=r"chunk 0 is short"):
        list(decrypt_chunks(key, 2, chunks))


def test_empty_last_chunk_in_multi_chunk_file_is_rejected() -> None:
    key = bytes(32)
    chunks = [encrypt_chunk(key, 0, False, bytes(CHUNK_SIZE)), encrypt_chunk(key, 1, True, b"")]
    with pytest.raises(OpenError, match=r"empty last chunk"):
        list(decrypt_chunks(key, 2, chunks))


def test_encrypt_chunks_matches_encrypt_chunk() -> None:
    key, data = bytes(range(32)), _data(CHUNK_SIZE + 5)
    assert encrypt_chunks(key, data) == [
        encrypt_chunk(key, 0, False, data[:CHUNK_SIZE]),
        encrypt_chunk(key, 1, True, data[CHUNK_SIZE:]),
    ]
    with pytest.raises(ValueError):
        encrypt_chunk(key, 0, False, bytes(CHUNK_SIZE + 1))


# --- manifest attacks --------------------------------------------------------------------------


def test_manifest_from_another_file() -> None:
    _, manifest_a, _ = _three_chunk_file("a")
    _, _, chunks_b = _three_chunk_file("b")
    with pytest.raises(OpenError, match=r"chunk 0 failed authentication"):
        _open(manifest_a, chunks_b)


def test_manifest_from_a_smaller_file() -> None:
    manifest, _ = seal_file(RECIPIENT.public, b"small", "s", "t")
    _, _, chunks = _three_chunk_file()
    with pytest.raises(OpenError):
        _open(manifest, chunks)


def test_tampered_manifest_envelope() -> None:
    _, manifest, chunks = _three_chunk_file()
    for position in range(0, len(manifest), 7):
        tampered = bytearray(manifest)
        tampered[position] ^= 0x10
        with pytest.raises(OpenError):
            _open(bytes(tampered), chunks)


def test_manifest_for_another_recipient() -> None:
    _, manifest, chunks = _three_chunk_file()
    with pytest.raises(OpenError):
        open_file(OTHER.private, manifest, list(chunks))


def test_manifest_with_wrong_purpose() -> None:
    _, manifest, chunks = _three_chunk_file()
    body = open_manifest(RECIPIENT.private, manifest).to_json()
    as_report = seal(RECIPIENT.public, Purpose.REPORT, body)
    with pytest.raises(WrongPurpose):
        _open(as_report, chunks)


def _manifest_body(**overrides) -> bytes:
    body = {"v": 1, "name": "a", "type": "t", "size": 5, "chunks": 1, "key": "A" * 43}
    body.update(overrides)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "malformed"),
        (b"[]", "malformed"),
        (b'"a string"', "malformed"),
        (b"{}", "malformed"),
        (_manifest_body(key=5), "malformed"),
        (_manifest_body(size="five"), "malformed"),
        (_manifest_body(key="not base64 !"), "malformed|inconsistent"),
        (_manifest_body(v=2), "inconsistent"),
        (_manifest_body(key="A" * 42), "inconsistent"),
        (_manifest_body(chunks=2), "inconsistent"),
        (_manifest_body(size=CHUNK_SIZE + 1), "inconsistent"),
        (_manifest_body(chunks=0, size=0), "inconsistent"),
    ],
)
def test_forged_manifest_contents(raw: bytes, message: str) -> None:
    """A manifest sealed by anyone (the public key is public) still has to be consistent."""
    forged = seal(RECIPIENT.public, Purpose.ATTACHMENT_MANIFEST, raw)
    with pytest.raises(OpenError, match=message):
        open_file(RECIPIENT.private, forged, [encrypt_chunk(bytes(32), 0, True, b"hello")])


def test_manifest_size_must_match_data() -> None:
    key = bytes(range(32))
    lying = Manifest("a", "t", 4, 1, key)  # claims 4 bytes, chunk holds 5
    forged = seal(RECIPIENT.public, Purpose.ATTACHMENT_MANIFEST, lying.to_json())
    with pytest.raises(OpenError, match="size does not match"):
        open_file(RECIPIENT.private, forged, [encrypt_chunk(key, 0, True, b"hello")])


def test_manifest_json_round_trip() -> None:
    m = Manifest("rapport é.pdf", "application/pdf", 70000, 2, bytes(range(32)))
    assert Manifest.from_json(m.to_json()) == m
    body = json.loads(m.to_json())
    assert body["v"] == 1 and "=" not in body["key"]
