"""Password-locked private keys, recovery-key text (crypto.passwords) and key wrapping (crypto.keywrap)."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import kdf, keywrap, passwords
from crypto.envelope import Purpose, open_envelope, read_header
from crypto.errors import BadPassword, CryptoError, OpenError, UnknownKey, WrongPurpose
from crypto.kdf import TESTING, Argon2Params
from crypto.keys import KeyPair

PASSWORD = "correct horse battery staple"
LOCKED_LEN = 41 + 48


def _pair(label: str) -> KeyPair:
    return KeyPair.from_scalar(hashlib.sha256(label.encode()).digest())


# --- lock / unlock -----------------------------------------------------------------------------


@pytest.mark.parametrize("password", [PASSWORD, "", "pässwörd ☃", "x" * 500])
def test_lock_unlock_round_trip(password: str) -> None:
    pair = KeyPair.generate()
    locked = passwords.lock(pair, password, TESTING)
    assert len(locked) == LOCKED_LEN
    assert pair.scalar not in locked
    unlocked = passwords.unlock(locked, password, pair.id)
    assert unlocked.scalar == pair.scalar
    assert unlocked.public == pair.public


def test_locking_is_randomised() -> None:
    pair = KeyPair.generate()
    assert passwords.lock(pair, PASSWORD, TESTING) != passwords.lock(pair, PASSWORD, TESTING)


@pytest.mark.parametrize("wrong", ["", "correct horse battery stapl", "Correct horse battery staple", PASSWORD + " "])
def test_wrong_password(wrong: str) -> None:
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    with pytest.raises(BadPassword):
        passwords.unlock(locked, wrong, pair.id)


def test_blob_carries_its_argon2_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key locked under other parameters than anyone's defaults still unlocks, from the blob alone."""
    unusual = Argon2Params(time_cost=2, memory_kib=384, parallelism=2)
    assert unusual not in (kdf.TESTING, kdf.PRODUCTION)
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, unusual)
    magic, t, m, p = struct.unpack(">4sIIB", locked[:13])
    assert (magic, t, m, p) == (b"RLK\x01", 2, 384, 2)

    # the caller's defaults change (e.g. the production floor is raised): unlocking is unaffected
    raised = Argon2Params(time_cost=4, memory_kib=512, parallelism=3)
    monkeypatch.setattr(kdf, "PRODUCTION", raised)
    monkeypatch.setattr(kdf, "TESTING", raised)
    assert passwords.unlock(locked, PASSWORD, pair.id).scalar == pair.scalar


def test_every_flipped_bit_outside_the_parameters_is_rejected() -> None:
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    for position in [*range(4), *range(13, len(locked))]:
        for bit in range(8):
            tampered = bytearray(locked)
            tampered[position] ^= 1 << bit
            with pytest.raises(CryptoError):
                passwords.unlock(bytes(tampered), PASSWORD, pair.id)


@pytest.mark.parametrize(
    "params",
    [
        Argon2Params(2, TESTING.memory_kib, TESTING.parallelism),
        Argon2Params(TESTING.time_cost, TESTING.memory_kib * 2, TESTING.parallelism),
        Argon2Params(TESTING.time_cost, TESTING.memory_kib, 2),
    ],
)
def test_rewritten_parameters_are_rejected(params: Argon2Params) -> None:
    """Parameters are authenticated: lowering or changing them in the blob does not unlock."""
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    rewritten = struct.pack(">4sIIB", b"RLK\x01", params.time_cost, params.memory_kib, params.parallelism)
    with pytest.raises(BadPassword):
        passwords.unlock(rewritten + locked[13:], PASSWORD, pair.id)


@pytest.mark.parametrize(
    ("t", "m", "p"), [(0, 256, 1), (1, 256, 0), (1, 1, 1), (2**31 + 1, 256, 1), (1, 2**32 - 1, 1), (1, 256, 255)]
)
def test_invalid_parameters_in_blob_raise_crypto_error(t: int, m: int, p: int) -> None:
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    rewritten = struct.pack(">4sIIB", b"RLK\x01", t, m, p)
    with pytest.raises(CryptoError):
        passwords.unlock(rewritten + locked[13:], PASSWORD, pair.id)


@pytest.mark.parametrize("cut", [1, 16, 48, LOCKED_LEN])
def test_truncated_or_extended_blob(cut: int) -> None:
    pair = KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    with pytest.raises(CryptoError, match="not a locked private key"):
        passwords.unlock(locked[:-cut], PASSWORD, pair.id)
    with pytest.raises(CryptoError, match="not a locked private key"):
        passwords.unlock(locked + bytes(cut), PASSWORD, pair.id)


def test_key_id_mismatch_is_rejected() -> None:
    pair, other = KeyPair.generate(), KeyPair.generate()
    locked = passwords.lock(pair, PASSWORD, TESTING)
    with pytest.raises(CryptoError):
        passwords.unlock(locked, PASSWORD, other.id)


def test_blob_holding_another_key_than_its_id_is_rejected() -> None:
    """Second line of defence: even a blob that authenticates under the id must hold that key."""
    pair, other = KeyPair.generate(), KeyPair.generate()
    salt, nonce = os.urandom(16), os.urandom(12)
    prefix = struct.pack(">4sIIB16s12s", b"RLK\x01", TESTING.time_cost, TESTING.memory_kib, 1, salt, nonce)
    kek = TESTING.derive(PASSWORD.encode(), salt)
    forged = prefix + AESGCM(kek).encrypt(nonce, pair.scalar, prefix + other.id)
    with pytest.raises(CryptoError, match="does not match"):
        passwords.unlock(forged, PASSWORD, other.id)


# --- recovery key text -------------------------------------------------------------------------


def _pair_whose_text_has(chars: str) -> KeyPair:
    for i in range(1000):
        pair = _pair(f"recovery/{i}")
        if all(c in passwords.recovery_text(pair) for c in chars):
            return pair
    raise AssertionError("no key found")


def test_recovery_text_round_trip_and_shape() -> None:
    for i in range(20):
        pair = _pair(f"recovery/{i}")
        text = passwords.recovery_text(pair)
        groups = text.split("-")
        assert len(groups) == 14 and all(len(g) == 4 for g in groups)
        assert set(text.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        assert passwords.parse_recovery_text(text).scalar == pair.scalar


def test_recovery_text_is_forgiving_about_form() -> None:
    pair = _pair_whose_text_has("OIB")
    text = passwords.recovery_text(pair)
    for variant in (
        text.lower(),
        text.replace("-", ""),
        text.replace("-", " "),
        "  " + text.replace("-", "\n") + "  ",
        text.replace("O", "0"),
        text.replace("I", "1"),
        text.replace("B", "8"),
        text.lower().replace("-", "").replace("o", "0"),
    ):
        assert passwords.parse_recovery_text(variant).scalar == pair.scalar, variant


@pytest.mark.parametrize("label", ["typo/a", "typo/b", "typo/c"])
def test_every_single_character_typo_is_caught(label: str) -> None:
    pair = _pair(label)
    text = passwords.recovery_text(pair)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for position, original in enumerate(text):
        if original == "-":
            continue
        for replacement in alphabet:
            if replacement == original:
                continue
            typo = text[:position] + replacement + text[position + 1 :]
            with pytest.raises(CryptoError):
                passwords.parse_recovery_text(typo)


def test_dropped_or_extra_characters_are_caught() -> None:
    text = passwords.recovery_text(_pair("typo/d"))
    for bad in (text[:-1], text[1:], text + "A", text[:10] + text[11:], "", "not a key", "ÉÉÉÉ-" + text[5:]):
        with pytest.raises(CryptoError):
            passwords.parse_recovery_text(bad)


# --- key wrapping ------------------------------------------------------------------------------


def test_wrap_unwrap_round_trip() -> None:
    intake, caseworker = KeyPair.generate(), KeyPair.generate()
    wrapped = keywrap.wrap(intake, caseworker.public)
    header = read_header(wrapped)
    assert header.purpose == Purpose.KEY_WRAP
    assert header.key_id == caseworker.id
    unwrapped = keywrap.unwrap(wrapped, caseworker, intake.id)
    assert unwrapped.scalar == intake.scalar
    assert unwrapped.id == intake.id


def test_unwrap_with_wrong_wrapped_id_fails() -> None:
    intake, other, caseworker = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    wrapped = keywrap.wrap(intake, caseworker.public)
    with pytest.raises(OpenError):
        keywrap.unwrap(wrapped, caseworker, other.id)
    with pytest.raises(OpenError):
        keywrap.unwrap(wrapped, caseworker, b"")


def test_unwrap_by_another_recipient_fails() -> None:
    intake, caseworker, stranger = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    wrapped = keywrap.wrap(intake, caseworker.public)
    with pytest.raises(UnknownKey):
        keywrap.unwrap(wrapped, stranger, intake.id)


def test_wrap_is_bound_to_its_purpose() -> None:
    intake, caseworker = KeyPair.generate(), KeyPair.generate()
    wrapped = keywrap.wrap(intake, caseworker.public)
    with pytest.raises(WrongPurpose):
        open_envelope(caseworker.private, Purpose.REPORT, wrapped, intake.id)
    relabelled = wrapped[:4] + bytes([Purpose.REPORT]) + wrapped[5:]
    with pytest.raises(OpenError):
        open_envelope(caseworker.private, Purpose.REPORT, relabelled, intake.id)


def test_tampered_wrap_fails() -> None:
    intake, caseworker = KeyPair.generate(), KeyPair.generate()
    wrapped = keywrap.wrap(intake, caseworker.public)
    for position in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(OpenError):
            keywrap.unwrap(bytes(tampered), caseworker, intake.id)
