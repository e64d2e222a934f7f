"""Known-answer vectors for the inbox index entry (docs/protocol.md §14.7).

tests/vectors/index-kat.json was written by ``generate()`` below, from fixed inputs:

    PYTHONPATH=. .venv/bin/python -m tests.test_index_vectors > tests/vectors/index-kat.json

The test checks the code still derives the same key and seals the same bytes, and that each
vector opens for its own case only and not once a bit is flipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.errors import OpenError
from crypto.inbox_index import derive_key, open_entry, seal_entry

KAT_FILE = Path(__file__).resolve().parent / "vectors" / "index-kat.json"
# Any 32 bytes serve as the scalar: the derivation does not check it is on the curve.
SCALAR = hashlib.sha256(b"rri index kat scalar").digest()
ENTRIES: list[tuple[str, dict[str, Any]]] = [
    (
        "ABCDEFGHJKMNPQRS",
        {
            "v": 2,
            "country": "Example Republic",
            "act_types": ["threats", "surveillance"],
            "un_link": ["upr"],
            "situation": "detained",
            "verification": "credible",
            "consent_act": "yes",
            "consent_publish": "anonymised",
            "t": "",
        },
    ),
    ("case-2", {"v": 2, "country": "Côte d’Ivoire — ساحل العاج", "act_types": [], "unreadable": True, "t": ""}),
    ("Z", {}),
]


def generate() -> dict[str, Any]:
    key = derive_key(SCALAR)
    vectors = []
    for number, (case_id, entry) in enumerate(ENTRIES):
        nonce = hashlib.sha256(b"rri index kat nonce %d" % number).digest()[:12]
        plaintext = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        vectors.append(
            {
                "case_id": case_id,
                "nonce": nonce.hex(),
                "plaintext": plaintext.hex(),
                "entry": seal_entry(key, case_id, plaintext, nonce).hex(),
            }
        )
    return {
        "info": "rri/v1 inbox index",
        "aad_prefix": "rri/v1 index ",
        "scalar": SCALAR.hex(),
        "index_key": key.hex(),
        "vectors": vectors,
    }


@pytest.fixture(scope="module")
def kat() -> dict[str, Any]:
    return json.loads(KAT_FILE.read_text(encoding="utf-8"))


def test_the_file_is_what_the_generator_writes(kat: dict[str, Any]) -> None:
    assert kat == generate()


def test_the_index_key_is_reproduced(kat: dict[str, Any]) -> None:
    scalar = bytes.fromhex(kat["scalar"])
    assert derive_key(scalar).hex() == kat["index_key"]
    # RFC 5869 by hand (salt none = 32 zero bytes; one block of output suffices).
    prk = hmac.digest(bytes(32), scalar, "sha256")
    assert hmac.digest(prk, b"rri/v1 inbox index\x01", "sha256").hex() == kat["index_key"]


@pytest.mark.parametrize("number", range(len(ENTRIES)))
def test_each_entry_is_reproduced_and_opens(kat: dict[str, Any], number: int) -> None:
    vector = kat["vectors"][number]
    key = bytes.fromhex(kat["index_key"])
    plaintext, blob = bytes.fromhex(vector["plaintext"]), bytes.fromhex(vector["entry"])
    assert seal_entry(key, vector["case_id"], plaintext, bytes.fromhex(vector["nonce"])) == blob
    assert open_entry(key, vector["case_id"], blob) == plaintext
    json.loads(plaintext.decode("utf-8"))  # UTF-8 JSON, as §14.7 says


@pytest.mark.parametrize("number", range(len(ENTRIES)))
def test_an_entry_does_not_open_for_another_case_or_altered(kat: dict[str, Any], number: int) -> None:
    vector = kat["vectors"][number]
    key = bytes.fromhex(kat["index_key"])
    blob = bytes.fromhex(vector["entry"])
    with pytest.raises(OpenError):
        open_entry(key, vector["case_id"] + "X", blob)
    for position in (0, 12, len(blob) - 1):  # nonce, ciphertext (or tag if empty), tag
        flipped = bytearray(blob)
        flipped[position] ^= 0x01
        with pytest.raises(OpenError):
            open_entry(key, vector["case_id"], bytes(flipped))
    with pytest.raises(OpenError):
        open_entry(bytes(32), vector["case_id"], blob)
    with pytest.raises(OpenError):
        open_entry(key, vector["case_id"], blob[:27])


if __name__ == "__main__":
    print(json.dumps(generate(), ensure_ascii=False, indent=2))
