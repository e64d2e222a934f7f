"""The negative vectors (tests/vectors/negative-kat.json): the Python readers refuse each input
with the failure the vector names, and the Node opener (tests/js/negative.mjs check) does too.

A failure name maps to the exception class and message the Python code raises for it, so a
refusal for the wrong reason (a tampered chunk reported as a malformed manifest, say) fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from crypto.envelope import Purpose, open_envelope
from crypto.errors import OpenError, TokenError, TokenTypo, UnknownKey, WrongPurpose
from crypto.keys import load_private
from crypto.stream import open_file
from crypto.token import parse

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "tests" / "vectors" / "negative-kat.json"
KAT = REPO / "tests" / "vectors" / "envelope-kat.json"

# failure name -> (exception the Python code raises, pattern its message matches)
EXPECTED: dict[str, tuple[type[Exception], str]] = {
    "truncated": (OpenError, r"^envelope is truncated"),
    "bad-magic": (OpenError, r"bad magic"),
    "unsupported-version": (OpenError, r"^unsupported envelope version 2$"),
    "unknown-purpose": (OpenError, r"^unknown envelope purpose code \d+$"),
    "wrong-purpose": (WrongPurpose, r"expected a"),
    "unknown-key": (UnknownKey, r"key"),
    "authentication": (OpenError, r"^envelope failed authentication"),
    "manifest": (OpenError, r"^attachment manifest is (malformed|inconsistent)"),
    "chunk-authentication": (OpenError, r"chunk \d+ failed authentication"),
    "chunk-size": (OpenError, r"^chunk \d+ is short$|^file size does not match its manifest$"),
    "extra-chunk": (OpenError, r"^more chunks than"),
    "truncated-stream": (OpenError, r"^file is truncated"),
    "typo": (TokenTypo, r"typo"),
    "length": (TokenError, r"^a token has 20 digits"),
    "not-digit": (TokenError, r"^a token contains only digits$"),
}
# Subclasses that must NOT be what a failure is reported as (an OpenError expected as such).
NARROWER: dict[type[Exception], tuple[type[Exception], ...]] = {
    OpenError: (WrongPurpose, UnknownKey),
    TokenError: (TokenTypo,),
}

_vectors: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
_kat: dict[str, Any] = json.loads(KAT.read_text(encoding="utf-8"))
_PRIVATE = load_private(bytes.fromhex(_kat["recipient"]["sk"]))
_PURPOSE = {p.label.decode(): p for p in Purpose}


def _refusal(expect: str, excinfo: pytest.ExceptionInfo[Exception]) -> None:
    cls, pattern = EXPECTED[expect]
    assert isinstance(excinfo.value, cls), f"{expect}: raised {excinfo.type.__name__}: {excinfo.value}"
    assert not isinstance(excinfo.value, NARROWER.get(cls, ())), f"{expect}: raised {excinfo.type.__name__}"
    assert re.search(pattern, str(excinfo.value)), f"{expect}: {excinfo.value}"


def _flip(data: bytes, at: int, bit: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 1 << bit
    return bytes(out)


def _chunks(vector: dict[str, Any]) -> list[bytes]:
    """The chunks a stream vector lists, resolved against the KAT file (see tests/js/negative.mjs)."""
    out = []
    for c in vector["chunks"]:
        if "hex" in c:
            out.append(bytes.fromhex(c["hex"]))
            continue
        stream, index = c["kat"]
        data = bytes.fromhex(_kat["streams"][stream]["chunks"][index])
        if "flip" in c:
            data = _flip(data, *c["flip"])
        if "cut" in c:
            data = data[: -c["cut"]]
        out.append(data)
    return out


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [f"{v['name']}-{v['expect']}" for v in vectors]


def test_every_failure_is_named_and_mapped() -> None:
    named = set(_vectors["failures"])
    assert named == set(EXPECTED)
    used = {v["expect"] for kind in ("envelopes", "streams", "tokens") for v in _vectors[kind]}
    assert used == named


@pytest.mark.parametrize("vector", _vectors["envelopes"], ids=_ids(_vectors["envelopes"]))
def test_envelope_is_refused(vector: dict[str, Any]) -> None:
    envelope, context = bytes.fromhex(vector["envelope"]), bytes.fromhex(vector["context"])
    purpose = _PURPOSE[vector["purpose"]]
    with pytest.raises(Exception) as single:
        open_envelope(_PRIVATE, purpose, envelope, context)
    _refusal(vector["expect"], single)
    # the same with the map of every key the reader holds (how the desk opens reports)
    key_id = bytes.fromhex(_kat["recipient"]["key_id"])
    with pytest.raises(Exception) as keyring:
        open_envelope({key_id: _PRIVATE}, purpose, envelope, context)
    _refusal(vector["expect"], keyring)


@pytest.mark.parametrize("vector", _vectors["streams"], ids=_ids(_vectors["streams"]))
def test_stream_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(Exception) as refused:
        open_file(_PRIVATE, bytes.fromhex(vector["manifest"]), _chunks(vector))
    _refusal(vector["expect"], refused)


@pytest.mark.parametrize("vector", _vectors["tokens"], ids=_ids(_vectors["tokens"]))
def test_token_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(Exception) as refused:
        parse(vector["token"])
    _refusal(vector["expect"], refused)


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_opener_refuses_every_vector_and_the_file_regenerates() -> None:
    proc = subprocess.run(
        ["node", "tests/js/negative.mjs", "check", str(VECTORS)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.MULTILINE), proc.stdout
