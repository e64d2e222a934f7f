"""Reporter tokens (crypto.token): format, Damm check digit, parsing, generation and derivation."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter

import pytest
from argon2.low_level import Type, hash_secret_raw
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import token as tok
from crypto.envelope import Purpose, open_envelope, seal
from crypto.errors import OpenError, TokenError, TokenTypo
from crypto.kdf import TESTING, Argon2Params

PEPPER = b"p" * 32
OTHER_PEPPER = b"q" * 32


def _valid(body: str) -> str:
    return body + str(tok.damm(body))


def _random_tokens(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [_valid("".join(rng.choice("0123456789") for _ in range(19))) for _ in range(n)]


# --- shape ---------------------------------------------------------------------------------------


def test_generated_token_shape() -> None:
    for _ in range(200):
        token = tok.generate()
        assert len(token) == tok.TOKEN_DIGITS == 20
        assert token.isascii() and token.isdigit()
        assert tok.damm(token) == 0
        assert tok.parse(token) == token


def test_format_is_five_groups_of_four() -> None:
    token = tok.generate()
    shown = tok.format_token(token)
    groups = shown.split(" ")
    assert [len(g) for g in groups] == [4, 4, 4, 4, 4]
    assert "".join(groups) == token
    assert tok.format_token("01234567890123456789") == "0123 4567 8901 2345 6789"
    assert tok.parse(shown) == token


# --- Damm check digit ----------------------------------------------------------------------------


def test_damm_table_is_a_totally_antisymmetric_quasigroup() -> None:
    """The algebraic reason every single substitution and adjacent transposition is caught."""
    table = tok._DAMM
    digits = range(10)
    for row in table:
        assert sorted(row) == list(digits)  # each row a permutation: substitutions change the state
    for col in digits:
        assert sorted(table[r][col] for r in digits) == list(digits)
    for c in digits:
        for x in digits:
            for y in digits:
                if x != y:
                    assert table[table[c][x]][y] != table[table[c][y]][x]


def test_damm_known_value() -> None:
    # Damm's worked example: 572 -> check digit 4
    assert tok.damm("572") == 4
    assert tok.damm("5724") == 0


def test_every_single_digit_substitution_is_caught() -> None:
    for token in _random_tokens(150, seed=1):
        assert tok.parse(token) == token
        for position in range(20):
            for digit in "0123456789":
                if digit == token[position]:
                    continue
                typo = token[:position] + digit + token[position + 1 :]
                with pytest.raises(TokenTypo):
                    tok.parse(typo)


def test_every_adjacent_transposition_is_caught() -> None:
    checked = 0
    for token in _random_tokens(300, seed=2):
        for position in range(19):
            a, b = token[position], token[position + 1]
            if a == b:
                continue
            swapped = token[:position] + b + a + token[position + 2 :]
            with pytest.raises(TokenTypo):
                tok.parse(swapped)
            checked += 1
    assert checked > 4000


# --- parsing -------------------------------------------------------------------------------------

TOKEN = _valid("1234567890123456789")


def _translate(token: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) for d in token)


@pytest.mark.parametrize(
    "typed",
    [
        TOKEN,
        tok.format_token(TOKEN),
        "-".join(TOKEN[i : i + 4] for i in range(0, 20, 4)),
        "  " + " - ".join(TOKEN[i : i + 4] for i in range(0, 20, 4)) + "\n",
        ".".join(TOKEN[i : i + 5] for i in range(0, 20, 5)),
        "\u00a0".join(TOKEN[i : i + 4] for i in range(0, 20, 4)),
        _translate(TOKEN, 0x0660),  # Arabic-Indic digits
        _translate(TOKEN, 0x06F0),  # Extended Arabic-Indic (Persian) digits
        _translate(TOKEN, 0xFF10),  # full-width digits
        tok.format_token(_translate(TOKEN, 0x06F0)),
        "\u2013".join(_translate(TOKEN, 0xFF10)[i : i + 4] for i in range(0, 20, 4)),
        _translate(TOKEN[:10], 0x0660) + TOKEN[10:],  # mixed scripts
    ],
)
def test_parse_accepts_how_people_type(typed: str) -> None:
    assert tok.parse(typed) == TOKEN


def test_parse_localised_typo_is_still_caught() -> None:
    typo = TOKEN[:5] + str((int(TOKEN[5]) + 1) % 10) + TOKEN[6:]
    with pytest.raises(TokenTypo):
        tok.parse(_translate(typo, 0x06F0))


@pytest.mark.parametrize("length", [0, 1, 16, 19, 21, 24, 40])
def test_wrong_length_reports_the_count(length: int) -> None:
    typed = (TOKEN * 3)[:length]
    with pytest.raises(TokenError, match=rf"\b20\b.*\b{length}\b") as caught:
        tok.parse(typed)
    assert not isinstance(caught.value, TokenTypo)


def test_wrong_length_counts_digits_not_separators() -> None:
    with pytest.raises(TokenError, match=r"\b19\b"):
        tok.parse(tok.format_token(TOKEN)[:-1])


@pytest.mark.parametrize("typed", [TOKEN[:-1] + "x", "O" + TOKEN[1:], TOKEN[:10] + "/" + TOKEN[10:], "²" + TOKEN[1:]])
def test_non_digits_are_rejected(typed: str) -> None:
    with pytest.raises(TokenError, match="only digits") as caught:
        tok.parse(typed)
    assert not isinstance(caught.value, TokenTypo)


def test_typo_is_a_token_error() -> None:
    assert issubclass(TokenTypo, TokenError)
    with pytest.raises(TokenTypo, match="typo"):
        tok.parse(TOKEN[:-1] + str((int(TOKEN[-1]) + 1) % 10))


# --- generation ----------------------------------------------------------------------------------


def test_generate_uses_nineteen_random_digits() -> None:
    tokens = [tok.generate() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    for position in range(20):
        counts = Counter(t[position] for t in tokens)
        assert set(counts) == set("0123456789"), f"position {position} misses digits: {counts}"
        # expected 200 each; 100..300 is > 7 standard deviations either side
        assert all(100 <= n <= 300 for n in counts.values()), f"position {position} is skewed: {counts}"
    for token in tokens:
        assert token[19] == str(tok.damm(token[:19]))


# --- derivation ----------------------------------------------------------------------------------


def test_derive_is_deterministic() -> None:
    token = tok.generate()
    a = tok.derive(token, PEPPER, TESTING)
    b = tok.derive(tok.format_token(token), PEPPER, TESTING)
    assert a.lookup == b.lookup
    assert len(a.lookup) == 32
    assert a.reporter.public == b.reporter.public
    assert a.reporter.scalar == b.reporter.scalar


def test_derive_depends_on_pepper_token_and_params() -> None:
    token = tok.generate()
    base = tok.derive(token, PEPPER, TESTING)
    variants = [
        tok.derive(token, OTHER_PEPPER, TESTING),
        tok.derive(tok.generate(), PEPPER, TESTING),
        tok.derive(token, PEPPER, Argon2Params(TESTING.time_cost + 1, TESTING.memory_kib, TESTING.parallelism)),
    ]
    for other in variants:
        assert other.lookup != base.lookup
        assert other.reporter.public != base.reporter.public
        assert other.reporter.scalar != base.reporter.scalar


def test_derive_matches_the_documented_construction() -> None:
    """Recomputed from the module docstring with independent code: the derivation is a stored format."""
    token, pepper = TOKEN, bytes(range(32))
    assert tok.damm(token) == 0
    salt = hashlib.sha256(b"rri/v1 token salt" + pepper).digest()[:16]
    stretched = hash_secret_raw(
        token.encode(), salt, time_cost=1, memory_cost=256, parallelism=1, hash_len=32, type=Type.ID
    )

    def hkdf(info: bytes, length: int) -> bytes:  # RFC 5869
        prk = hmac.new(pepper, stretched, "sha256").digest()
        out, block = b"", b""
        for counter in range(1, -(-length // 32) + 1):
            block = hmac.new(prk, block + info + bytes([counter]), "sha256").digest()
            out += block
        return out[:length]

    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(hkdf(b"rri/v1 reporter key", 48), "big") % (order - 1) + 1

    derived = tok.derive(tok.format_token(token), pepper, TESTING)
    assert Argon2Params(time_cost=1, memory_kib=256, parallelism=1) == TESTING
    assert derived.lookup == hkdf(b"rri/v1 token lookup", 32)
    assert derived.reporter.scalar == scalar.to_bytes(32, "big")


def test_lookup_and_reporter_key_are_independent() -> None:
    for _ in range(5):
        secrets = tok.derive(tok.generate(), PEPPER, TESTING)
        assert secrets.lookup != secrets.reporter.scalar
        assert secrets.lookup not in secrets.reporter.public
        assert secrets.lookup[:8] != secrets.reporter.id


def test_derive_rejects_mistyped_tokens() -> None:
    with pytest.raises(TokenTypo):
        tok.derive(TOKEN[:-1] + str((int(TOKEN[-1]) + 1) % 10), PEPPER, TESTING)
    with pytest.raises(TokenError):
        tok.derive(TOKEN[:-1], PEPPER, TESTING)


def test_reply_opens_only_with_the_same_token_and_pepper() -> None:
    token = tok.generate()
    stored_public = tok.derive(token, PEPPER, TESTING).reporter.public
    reply = seal(stored_public, Purpose.REPLY, "Nous avons reçu votre signalement.".encode(), b"case:9")

    again = tok.derive(tok.format_token(token), PEPPER, TESTING)
    assert open_envelope(again.reporter.private, Purpose.REPLY, reply, b"case:9") == (
        "Nous avons reçu votre signalement.".encode()
    )
    for wrong in (tok.derive(token, OTHER_PEPPER, TESTING), tok.derive(tok.generate(), PEPPER, TESTING)):
        with pytest.raises(OpenError):
            open_envelope(wrong.reporter.private, Purpose.REPLY, reply, b"case:9")
        with pytest.raises(OpenError):
            open_envelope({wrong.reporter.id: wrong.reporter.private}, Purpose.REPLY, reply, b"case:9")


@settings(max_examples=20, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=19, max_size=19))
def test_any_valid_body_round_trips(body: str) -> None:
    token = _valid(body)
    assert tok.parse(tok.format_token(token)) == token
