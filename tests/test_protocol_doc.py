"""docs/protocol.md is normative: its examples, labels and limits are checked against the code.

Each test reads the values from the document's text, not from a copy kept here, so an edit that
makes the document and the code disagree (in either) fails.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import intake
from cases import inbox_index
from cases.config import Settings
from cases.db import Database
from crypto import inbox_index as index_format
from crypto import token
from crypto.envelope import Purpose, open_envelope
from crypto.kdf import TESTING
from crypto.keys import KeyPair, fingerprint, key_id, load_private, load_public
from crypto.passwords import parse_recovery_text, recovery_text
from crypto.stream import CHUNK_SIZE, encrypt_chunk
from intake import csrf, pages

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
KAT: dict[str, Any] = json.loads((REPO / "tests" / "vectors" / "envelope-kat.json").read_text(encoding="utf-8"))
NEGATIVE: dict[str, Any] = json.loads((REPO / "tests" / "vectors" / "negative-kat.json").read_text(encoding="utf-8"))
HEX = re.compile(r"[0-9a-f]+")


def section(number: str) -> str:
    """The text of section ``number`` ("5.6", "12"), up to the next heading of its level or above."""
    found = re.search(rf"^(#+) {re.escape(number)}\.? .*$", DOC, re.MULTILINE)
    assert found, f"no section {number} in protocol.md"
    level = len(found.group(1))
    rest = DOC[found.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def hex_prefix(text: str) -> str:
    """The hex digits a line starts with, across space-separated groups, up to the first word."""
    digits = []
    for word in text.split():
        if not HEX.fullmatch(word):
            break
        digits.append(word)
    return "".join(digits)


def named_values(block: str) -> dict[str, str]:
    """``name   hex hex`` lines (names end at two spaces), with indented hex continuation lines."""
    values: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line[:1].isspace():
            if name:
                values[name] += hex_prefix(line)
            continue
        found = re.match(r"(\S.*?)\s{2,}(.*)$", line)
        if found:
            name = found.group(1)
            values[name] = hex_prefix(found.group(2))
    return values


# --- §1: the document says it is normative ------------------------------------------------------


def test_the_document_is_normative() -> None:
    assert "This document is normative." in DOC
    for override in ("the code wins", "is authoritative", "this text is wrong"):
        assert override not in DOC, f"protocol.md still says {override!r}"


# --- §4, §9: the KAT recipient -------------------------------------------------------------------


def test_key_example_matches_the_kat_recipient() -> None:
    values = named_values(code_blocks(section("4"))[0])
    recipient = KAT["recipient"]
    assert (values["sk"], values["pk"], values["key id"]) == (recipient["sk"], recipient["pk"], recipient["key_id"])
    pair = KeyPair.from_scalar(bytes.fromhex(values["sk"]))
    assert pair.public.hex() == values["pk"] and key_id(pair.public).hex() == values["key id"]
    shown = re.search(r"^fingerprint\s+(.+)$", code_blocks(section("4"))[0], re.MULTILINE)
    assert shown and shown.group(1).strip() == fingerprint(pair.public)


def test_recovery_text_example() -> None:
    text = section("9")
    example = code_blocks(text)[-1].strip()
    pair = KeyPair.from_scalar(bytes.fromhex(KAT["recipient"]["sk"]))
    assert recovery_text(pair) == example
    assert parse_recovery_text(example.lower().replace("-", " ")).public == pair.public
    checksum = re.search(r"checksum `([0-9a-f]{6})`", text)
    assert checksum and hashlib.sha256(b"rri/v1 recovery key" + pair.scalar).hexdigest()[:6] == checksum.group(1)


# --- §5.6: the worked envelope -------------------------------------------------------------------


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, b"HPKE-v1" + suite_id + label + ikm, hashlib.sha256).digest()


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    return hmac.new(prk, labeled + b"\x01", hashlib.sha256).digest()[:length]  # L <= 32: one block


def test_worked_envelope_example() -> None:
    inputs_block, intermediate_block, envelope_block = code_blocks(section("5.6"))
    inputs, steps = named_values(inputs_block), named_values(intermediate_block)
    kat = KAT["envelopes"][0]
    plaintext = re.search(r'^plaintext\s+"(.*)"\s+\((\d+) bytes\)', inputs_block, re.MULTILINE)
    assert plaintext and plaintext.group(1).encode().hex() == kat["pt"]
    assert int(plaintext.group(2)) == len(bytes.fromhex(kat["pt"]))
    assert (inputs["eph sk"], inputs["eph pk"], inputs["info"]) == (kat["eph_sk"], kat["eph_pk"], kat["info"])

    # RFC 9180 §4.1 and §5.1, recomputed here from the document's inputs
    pk_r = bytes.fromhex(KAT["recipient"]["pk"])
    enc = bytes.fromhex(inputs["eph pk"])
    dh = load_private(bytes.fromhex(inputs["eph sk"])).exchange(ec.ECDH(), load_public(pk_r))
    kem = b"KEM\x00\x10"
    eae_prk = _labeled_extract(kem, b"", b"eae_prk", dh)
    shared_secret = _labeled_expand(kem, eae_prk, b"shared_secret", enc + pk_r, 32)
    hpke = b"HPKE\x00\x10\x00\x01\x00\x02"
    context = (
        b"\x00"
        + _labeled_extract(hpke, b"", b"psk_id_hash", b"")
        + _labeled_extract(hpke, b"", b"info_hash", bytes.fromhex(inputs["info"]))
    )
    secret = _labeled_extract(hpke, shared_secret, b"secret", b"")
    key = _labeled_expand(hpke, secret, b"key", context, 32)
    base_nonce = _labeled_expand(hpke, secret, b"base_nonce", context, 12)
    assert steps == {
        "dh": dh.hex(),
        "shared_secret": shared_secret.hex(),
        "key_schedule_context": context.hex(),
        "secret": secret.hex(),
        "key": key.hex(),
        "base_nonce": base_nonce.hex(),
    }

    envelope = bytes.fromhex("".join(hex_prefix(line) for line in envelope_block.splitlines()))
    assert envelope.hex() == kat["envelope"]
    assert re.search(rf"The {len(envelope)}-byte envelope", section("5.6"))
    assert envelope[78:] == AESGCM(key).encrypt(base_nonce, bytes.fromhex(kat["pt"]), b"")
    opened = open_envelope(load_private(bytes.fromhex(KAT["recipient"]["sk"])), Purpose.REPORT, envelope)
    assert opened.hex() == kat["pt"]


# --- §6: STREAM ----------------------------------------------------------------------------------


def test_chunk_size_is_the_code_s() -> None:
    stated = re.search(r"`CHUNK_SIZE = (\d+)`", section("6.1"))
    assert stated and int(stated.group(1)) == CHUNK_SIZE
    seal_js = (REPO / "intake" / "static" / "seal.js").read_text(encoding="utf-8")
    assert f"export const CHUNK = {CHUNK_SIZE};" in seal_js
    assert f"A full sealed chunk is {CHUNK_SIZE + 16} bytes" in section("6.1")


def test_stream_example() -> None:
    text = section("6.5")
    block = code_blocks(text)[0]
    stream = KAT["streams"][3]
    assert f"`streams[3]` of the KAT ({stream['size']} bytes" in text
    file_key = bytes.fromhex(named_values(block)["file_key"])
    assert file_key.hex() == stream["key"]
    manifest = re.search(r"^manifest\s+(\{.*?,)\n\s+(.*?\})", block, re.MULTILINE)
    assert manifest and manifest.group(1) + manifest.group(2) == stream["manifest_plaintext"]

    chunk0 = bytes.fromhex(stream["chunks"][0])
    first = re.search(
        r"chunk 0\s+nonce ([0-9a-f]{24}), (\d+) bytes, starts ([0-9a-f]+),\s+ends with the tag ([0-9a-f]{32})", block
    )
    assert first, "§6.5 no longer describes chunk 0"
    assert first.group(1) == bytes(12).hex() and int(first.group(2)) == len(chunk0)
    assert chunk0.hex().startswith(first.group(3)) and chunk0.hex().endswith(first.group(4))
    assert encrypt_chunk(file_key, 0, False, bytes(i % 251 for i in range(CHUNK_SIZE))) == chunk0

    second = re.search(
        r"chunk 1\s+nonce ([0-9a-f]{24}), plaintext ([0-9a-f]+)\s+sealed ([0-9a-f]+)\s+"
        r"\(the same chunk sealed with last = 0x00 would be ([0-9a-f]+)\)",
        block,
    )
    assert second, "§6.5 no longer describes chunk 1"
    nonce, plain, sealed, not_last = second.groups()
    assert nonce == (1).to_bytes(11, "big").hex() + "01"
    assert plain == bytes([65536 % 251]).hex()
    assert sealed == stream["chunks"][1] == encrypt_chunk(file_key, 1, True, bytes.fromhex(plain)).hex()
    assert not_last == encrypt_chunk(file_key, 1, False, bytes.fromhex(plain)).hex()

    empty = re.search(r"`streams\[0\]`.*?nonce `([0-9a-f]{24})`.*?sealed chunk\s+`([0-9a-f]+)`", text, re.DOTALL)
    assert empty and empty.group(1) == bytes(11).hex() + "01"
    assert [empty.group(2)] == KAT["streams"][0]["chunks"]


# --- §10: tokens ---------------------------------------------------------------------------------


def test_token_check_digit_example() -> None:
    example = re.search(r"the body\s+`(\d{19})` has interim (\d), giving the token `([\d ]+)`", section("10.1"))
    assert example, "§10.1 no longer gives its example"
    body, interim, shown = example.groups()
    assert token.damm(body) == int(interim)
    assert token.format_token(body + interim) == shown
    assert token.parse(shown) == body + interim


def test_token_normalisation_example() -> None:
    example = re.search(r"So `(.+?)` normalises to `(\d{20})`", section("10.2"))
    assert example and token.parse(example.group(1)) == example.group(2)


def test_token_derivation_example() -> None:
    text = section("10.3")
    profile = re.search(r"`TESTING` profile t=(\d+),\s+m=(\d+) KiB, p=(\d+), pepper = bytes `00 01 … 1f`", text)
    assert profile, "§10.3 no longer states the example's parameters"
    assert tuple(map(int, profile.groups())) == (TESTING.time_cost, TESTING.memory_kib, TESTING.parallelism)
    values = named_values(code_blocks(text)[-1])
    pepper = bytes(range(32))
    typed = re.search(r"^token\s+(\d{20})$", code_blocks(text)[-1], re.MULTILINE)
    assert typed
    salt = hashlib.sha256(b"rri/v1 token salt" + pepper).digest()[:16]
    stretched = TESTING.derive(typed.group(1).encode(), salt)
    seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=pepper, info=b"rri/v1 reporter key").derive(stretched)
    derived = token.derive(typed.group(1), pepper, TESTING)
    assert values["salt"] == salt.hex()
    assert values["T"] == stretched.hex()
    assert values["lookup"] == derived.lookup.hex()
    assert values["seed"] == seed.hex()
    assert values["reporter sk"] == derived.reporter.scalar.hex()
    assert values["reporter pk"] == derived.reporter.public.hex()
    assert values["key id"] == key_id(derived.reporter.public).hex()


# --- §12.1: the negative vectors -----------------------------------------------------------------


def test_negative_vector_table_names_every_failure() -> None:
    documented = re.findall(r"^\| `([a-z-]+)` \|", section("12.1"), re.MULTILINE)
    assert documented == list(NEGATIVE["failures"])


# --- §14.6: HTTP -----------------------------------------------------------------------------------


def _limits() -> list[tuple[str, str, str]]:
    rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \| `([a-z_.A-Z]+)` \|$", section("14.6"), re.MULTILINE)
    assert len(rows) >= 20, "the limits table of §14.6 is gone"
    return rows


def _resolve(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    try:
        owner: object = importlib.import_module(module)
    except ModuleNotFoundError:  # a class attribute: cases.config.Settings.max_files
        owner_module, _, owner_name = module.rpartition(".")
        owner = getattr(importlib.import_module(owner_module), owner_name)
    return getattr(owner, name)


_CONSTANTS = [row for row in _limits() if row[1].isdigit()]  # the one other row: test_form_body_limit


@pytest.mark.parametrize("limit", _CONSTANTS, ids=[row[2] for row in _CONSTANTS])
def test_http_limit_is_the_code_s(limit: tuple[str, str, str]) -> None:
    description, value, where = limit
    assert _resolve(where) == int(value), f"{description}: protocol.md says {value}, {where} is {_resolve(where)}"


def test_form_body_limit(settings: Settings, database: Database) -> None:
    row = next(row for row in _limits() if row[2] == "intake.pages.form_body_limit")
    assert row[1] == "total file limit + 2 MiB"
    app = intake.create_app(settings, database)
    with app.test_request_context():
        assert pages.form_body_limit() == settings.max_total_bytes + 2 * 1024 * 1024


def test_csrf_names_are_the_code_s(settings: Settings, database: Database) -> None:
    text = section("14.6")
    app = intake.create_app(settings, database)
    assert app.config["SESSION_COOKIE_NAME"] == "csrf" and "the only cookie, `csrf`" in text
    assert csrf.FIELD == "csrf" and "hidden field `csrf`" in text
    assert f"in the `{csrf.HEADER}` header" in text


def _normalise(path: str) -> str:
    """Placeholders compared by position only; a literal language (``/en/``) is ``/<lang>/``."""
    return re.sub(r"^/(en|fr|es|ar|zh|ru)/", "/<>/", re.sub(r"<[^>]*>", "<>", path))


def test_every_route_of_the_intake_is_documented(settings: Settings, database: Database) -> None:
    documented = {
        (method, _normalise(path))
        for method, path in re.findall(r"`(GET|POST|PUT) (/[^` ]*)`", section("14.6"))
        if "…" not in path  # "POST /<lang>/status…": a family named in prose
    }
    app = intake.create_app(settings, database)
    served = {
        (method, _normalise(rule.rule))
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == served


# --- §14.7: the inbox index ----------------------------------------------------------------------


def test_inbox_index_labels() -> None:
    text = section("14.7")
    info = re.search(r'info = "([^"]+)", 32\)', text)
    aad = re.search(r'AAD = "([^"]+)" ‖ case id', text)
    version = re.search(r'The\s+JSON is `\{"v":(\d+),', text)
    assert info and aad and version, "§14.7 no longer states its labels"
    assert info.group(1).encode() == index_format.INFO
    assert aad.group(1).encode() == index_format.AAD_PREFIX
    assert int(version.group(1)) == inbox_index.ENTRY_VERSION
    # and the code builds what the text describes
    scalar = bytes.fromhex(KAT["recipient"]["sk"])
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.group(1).encode()).derive(scalar)
    assert index_format.derive_key(scalar) == key
    blob = index_format.seal_entry(key, "abcdefghijklmnop", b'{"v":2}')
    plain = AESGCM(key).decrypt(blob[:12], blob[12:], aad.group(1).encode() + b"abcdefghijklmnop")
    assert json.loads(plain) == {"v": 2}
    assert "hex BLAKE2b-96 of the triage envelope" in text
    assert inbox_index.triage_mark(b"x") == hashlib.blake2b(b"x", digest_size=12).hexdigest()
