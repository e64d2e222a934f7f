"""Sealed envelopes (crypto.envelope): round trips, tamper evidence, binding and key selection."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.envelope import HEADER_LEN, MAGIC, OVERHEAD, Purpose, open_envelope, read_header, seal
from crypto.errors import OpenError, UnknownKey, WrongPurpose
from crypto.keys import KeyPair, key_id
from crypto.suite import ENC_LEN, TAG_LEN

ALICE = KeyPair.generate()
BOB = KeyPair.generate()
CAROL = KeyPair.generate()

MAX_PLAINTEXT = 200 * 1024
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# Small plaintexts straight from hypothesis (it shrinks them well), plus large ones expanded from a
# seed, so the whole 0..200 KB range is covered without hypothesis generating 200 KB of draws.
plaintexts = st.one_of(
    st.binary(max_size=512),
    st.builds(_random_bytes, st.integers(0, MAX_PLAINTEXT), st.integers(0, 2**32)),
)
purposes = st.sampled_from(list(Purpose))
contexts = st.binary(max_size=64)


# --- round trips -------------------------------------------------------------------------------


@FAST
@given(plaintext=plaintexts, purpose=purposes, context=contexts)
def test_round_trip_any_plaintext_purpose_and_context(plaintext: bytes, purpose: Purpose, context: bytes) -> None:
    envelope = seal(ALICE.public, purpose, plaintext, context)
    assert open_envelope(ALICE.private, purpose, envelope, context) == plaintext
    header = read_header(envelope)
    assert header.purpose == purpose
    assert header.key_id == ALICE.id


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, MAX_PLAINTEXT])
def test_round_trip_boundary_sizes(size: int) -> None:
    plaintext = _random_bytes(size, size)
    envelope = seal(ALICE.public, Purpose.REPORT, plaintext)
    assert open_envelope(ALICE.private, Purpose.REPORT, envelope) == plaintext


def test_sealing_is_randomised() -> None:
    """A fresh ephemeral key per seal: equal plaintexts never give equal envelopes."""
    a = seal(ALICE.public, Purpose.MESSAGE, b"same")
    b = seal(ALICE.public, Purpose.MESSAGE, b"same")
    assert a != b
    assert a[HEADER_LEN : HEADER_LEN + ENC_LEN] != b[HEADER_LEN : HEADER_LEN + ENC_LEN]


def test_purpose_labels_are_distinct() -> None:
    labels = [p.label for p in Purpose]
    assert len(set(labels)) == len(labels)
    assert Purpose.ATTACHMENT_MANIFEST.label == b"attachment-manifest"
    assert Purpose.KEY_WRAP.label == b"key-wrap"


# --- layout and overhead -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 31, 1000, 70000])
def test_overhead_is_exactly_94_bytes(size: int) -> None:
    assert OVERHEAD == 94 == 4 + 1 + 8 + ENC_LEN + TAG_LEN
    envelope = seal(BOB.public, Purpose.NOTE, bytes(size), b"ctx")
    assert len(envelope) - size == 94


def test_header_layout() -> None:
    envelope = seal(BOB.public, Purpose.TRIAGE, b"x")
    assert envelope[:4] == MAGIC == b"RRE\x01"
    assert envelope[4] == Purpose.TRIAGE == 7  # type: ignore[comparison-overlap]  # an IntEnum equals its number
    assert envelope[5:13] == BOB.id == key_id(BOB.public)
    assert HEADER_LEN == 13
    assert envelope[13] == 0x04  # uncompressed ephemeral point


# --- tamper evidence ---------------------------------------------------------------------------


def _flip(envelope: bytes, position: int, bit: int) -> bytes:
    tampered = bytearray(envelope)
    tampered[position] ^= 1 << bit
    return bytes(tampered)


@FAST
@given(
    plaintext=st.binary(max_size=2048),
    purpose=purposes,
    context=contexts,
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_any_flipped_bit_fails_to_open(
    plaintext: bytes, purpose: Purpose, context: bytes, where: float, bit: int
) -> None:
    envelope = seal(ALICE.public, purpose, plaintext, context)
    position = int(where * len(envelope))
    with pytest.raises(OpenError):
        open_envelope(ALICE.private, purpose, _flip(envelope, position, bit), context)


@pytest.mark.parametrize("keys", ["single", "dict"])
def test_every_bit_of_a_small_envelope_is_authenticated(keys: str) -> None:
    """Exhaustive: each of the 8 * len bits, flipped alone, makes the envelope unopenable."""
    private = ALICE.private if keys == "single" else {ALICE.id: ALICE.private, BOB.id: BOB.private}
    envelope = seal(ALICE.public, Purpose.MESSAGE, b"short message", b"case:7")
    assert open_envelope(private, Purpose.MESSAGE, envelope, b"case:7") == b"short message"
    opened = []
    for position in range(len(envelope)):
        for bit in range(8):
            with contextlib.suppress(OpenError):
                tampered = _flip(envelope, position, bit)
                opened.append((position, bit, open_envelope(private, Purpose.MESSAGE, tampered, b"case:7")))
    assert opened == []


def test_flipped_bits_in_the_header_give_specific_errors() -> None:
    envelope = seal(ALICE.public, Purpose.REPORT, b"hello")
    # key id bits: the envelope now names a key we do not hold
    for position in range(5, 13):
        with pytest.raises(UnknownKey):
            open_envelope(ALICE.private, Purpose.REPORT, _flip(envelope, position, 0))
    # purpose code 1 -> 3 (attachment-manifest): a valid but different purpose
    with pytest.raises(WrongPurpose):
        open_envelope(ALICE.private, Purpose.REPORT, _flip(envelope, 4, 1))
    # purpose code 1 -> 0: no such purpose
    with pytest.raises(OpenError, match="unknown envelope purpose"):
        open_envelope(ALICE.private, Purpose.REPORT, _flip(envelope, 4, 0))
    # version byte
    with pytest.raises(OpenError, match="unsupported envelope version"):
        open_envelope(ALICE.private, Purpose.REPORT, _flip(envelope, 3, 1))
    with pytest.raises(OpenError, match="not a sealed envelope"):
        open_envelope(ALICE.private, Purpose.REPORT, _flip(envelope, 0, 0))


@pytest.mark.parametrize("size", [0, 5, 100])
def test_truncation_at_every_length_fails(size: int) -> None:
    envelope = seal(ALICE.public, Purpose.REPORT, _random_bytes(size, 1), b"ctx")
    for length in range(len(envelope)):
        with pytest.raises(OpenError):
            open_envelope(ALICE.private, Purpose.REPORT, envelope[:length], b"ctx")


@pytest.mark.parametrize("suffix", [b"\x00", b"\x00" * 16, b"trailing garbage"])
def test_appended_bytes_fail(suffix: bytes) -> None:
    envelope = seal(ALICE.public, Purpose.REPORT, b"payload")
    with pytest.raises(OpenError):
        open_envelope(ALICE.private, Purpose.REPORT, envelope + suffix)


@pytest.mark.parametrize("junk", [b"", b"RRE", b"RRE\x01", bytes(93), bytes(200), b"RRE\x02" + bytes(100)])
def test_non_envelopes_are_rejected(junk: bytes) -> None:
    with pytest.raises(OpenError):
        read_header(junk)
    with pytest.raises(OpenError):
        open_envelope(ALICE.private, Purpose.REPORT, junk)


# --- purpose and context binding ---------------------------------------------------------------


@pytest.mark.parametrize("sealed_as", list(Purpose))
def test_wrong_purpose_is_reported(sealed_as: Purpose) -> None:
    envelope = seal(ALICE.public, sealed_as, b"data")
    for expected in Purpose:
        if expected is sealed_as:
            continue
        with pytest.raises(WrongPurpose, match=sealed_as.label.decode()):
            open_envelope(ALICE.private, expected, envelope)


@pytest.mark.parametrize("sealed_as", list(Purpose))
def test_relabelled_purpose_byte_fails_authentication(sealed_as: Purpose) -> None:
    """Rewriting the clear purpose code to what the opener expects must not get past the AEAD."""
    envelope = seal(ALICE.public, sealed_as, b"data", b"case:1")
    for expected in Purpose:
        if expected is sealed_as:
            continue
        relabelled = envelope[:4] + bytes([expected]) + envelope[5:]
        assert read_header(relabelled).purpose == expected
        with pytest.raises(OpenError) as caught:
            open_envelope(ALICE.private, expected, relabelled, b"case:1")
        assert type(caught.value) is OpenError  # an authentication failure, not WrongPurpose/UnknownKey


@pytest.mark.parametrize(
    ("sealed_ctx", "opened_ctx"),
    [
        (b"case:1", b"case:2"),
        (b"case:1", b""),
        (b"", b"case:1"),
        (b"case:1", b"case:1\x00"),
        (b"case:1", b"case:"),
        (b"\x00", b""),
    ],
)
def test_wrong_context_fails(sealed_ctx: bytes, opened_ctx: bytes) -> None:
    envelope = seal(ALICE.public, Purpose.MESSAGE, b"secret", sealed_ctx)
    assert open_envelope(ALICE.private, Purpose.MESSAGE, envelope, sealed_ctx) == b"secret"
    with pytest.raises(OpenError) as caught:
        open_envelope(ALICE.private, Purpose.MESSAGE, envelope, opened_ctx)
    assert type(caught.value) is OpenError


@FAST
@given(sealed_ctx=contexts, opened_ctx=contexts)
def test_any_other_context_fails(sealed_ctx: bytes, opened_ctx: bytes) -> None:
    envelope = seal(ALICE.public, Purpose.NOTE, b"n", sealed_ctx)
    if sealed_ctx == opened_ctx:
        assert open_envelope(ALICE.private, Purpose.NOTE, envelope, opened_ctx) == b"n"
    else:
        with pytest.raises(OpenError):
            open_envelope(ALICE.private, Purpose.NOTE, envelope, opened_ctx)


# --- recipients and key selection --------------------------------------------------------------


def test_another_recipient_gets_unknown_key() -> None:
    envelope = seal(ALICE.public, Purpose.REPORT, b"for alice")
    with pytest.raises(UnknownKey):
        open_envelope(BOB.private, Purpose.REPORT, envelope)
    with pytest.raises(UnknownKey, match=ALICE.id.hex()):
        open_envelope({BOB.id: BOB.private, CAROL.id: CAROL.private}, Purpose.REPORT, envelope)
    with pytest.raises(UnknownKey):
        open_envelope({}, Purpose.REPORT, envelope)


def test_key_dict_picks_the_right_key() -> None:
    keys = {pair.id: pair.private for pair in (ALICE, BOB, CAROL)}
    for pair in (ALICE, BOB, CAROL):
        plaintext = b"for " + pair.id.hex().encode()
        envelope = seal(pair.public, Purpose.REPLY, plaintext, b"thread")
        assert open_envelope(keys, Purpose.REPLY, envelope, b"thread") == plaintext
        # and only that key: every other key alone is refused
        for other in (ALICE, BOB, CAROL):
            if other is not pair:
                with pytest.raises(UnknownKey):
                    open_envelope(other.private, Purpose.REPLY, envelope, b"thread")


def test_wrong_key_filed_under_the_right_id_fails_authentication() -> None:
    """If a key store maps an id to the wrong private key, the result is an error, not garbage."""
    envelope = seal(ALICE.public, Purpose.REPORT, b"data")
    with pytest.raises(OpenError):
        open_envelope({ALICE.id: BOB.private}, Purpose.REPORT, envelope)
