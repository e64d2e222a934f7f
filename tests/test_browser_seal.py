"""The browser's intake/static/seal.js against RFC 9180, the project KATs and the Python crypto.

Node drives seal.js through tests/js/*.mjs; tests that need Node skip when it is not installed.
Chromium reseals the KAT with the seal.js the intake serves. The KAT checks on the Python side
need neither and always run.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from crypto.envelope import Purpose, open_envelope, seal
from crypto.errors import OpenError
from crypto.keys import KeyPair, key_id, load_private
from crypto.stream import CHUNK_SIZE, Manifest, encrypt_chunks, open_file, seal_file

from .live import open_page

REPO = Path(__file__).resolve().parents[1]
SEAL_JS = REPO / "intake" / "static" / "seal.js"
JS = REPO / "tests" / "js"
KAT_FILE = REPO / "tests" / "vectors" / "envelope-kat.json"
# The RFC 9180 appendix vectors: the team's reference copy in ../shared when it sits beside the
# repository, else the identical copy committed here so a clone on its own still runs them.
SHARED_VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "rfc9180-base-mode.json"
REPO_VECTORS = Path(__file__).resolve().parent / "vectors" / "rfc9180-base-mode.json"
RFC_VECTORS = SHARED_VECTORS if SHARED_VECTORS.is_file() else REPO_VECTORS

NODE = shutil.which("node")


def needs_node(test: Callable[..., None]) -> Callable[..., None]:
    """Runs Node: slow, and skipped where Node is not installed."""
    return pytest.mark.slow(
        pytest.mark.skipif(NODE is None, reason="node is not installed: cannot run intake/static/seal.js")(test)
    )


JS_SIZES = [0, 1, 1000, CHUNK_SIZE + 1]
FILE_SIZES = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 77]


def _node(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, *args], input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


def _interop(request: dict[str, Any]) -> dict[str, Any]:
    """One request to tests/js/interop.mjs; raises if the tool itself failed."""
    proc = _node(str(JS / "interop.mjs"), stdin=json.dumps(request))
    assert proc.returncode == 0, f"interop {request['op']} failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
    reply: dict[str, Any] = json.loads(proc.stdout)
    return reply


def _interop_many(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """interop.mjs takes one request per process, so run the processes side by side."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(_interop, requests))


def _pattern(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# --- (1), (2): the Node checkers -----------------------------------------------------------------


def test_committed_rfc_vectors_match_the_shared_reference() -> None:
    if not SHARED_VECTORS.is_file():
        pytest.skip("../shared is not beside this clone")
    assert REPO_VECTORS.read_bytes() == SHARED_VECTORS.read_bytes()


@needs_node
def test_rfc9180_vectors() -> None:
    assert RFC_VECTORS.is_file(), f"RFC 9180 vectors not found at {RFC_VECTORS} (expected ../shared beside the repo)"
    proc = _node(str(JS / "vectors.mjs"), str(RFC_VECTORS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout.strip().splitlines()[-1])
    assert summary, proc.stdout
    passed, failed = map(int, summary.groups())
    assert failed == 0
    assert passed >= 10, proc.stdout
    assert "FAIL" not in proc.stdout


@needs_node
def test_kat_file_regenerates_byte_for_byte() -> None:
    proc = _node(str(JS / "kat.mjs"), "check", str(KAT_FILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.MULTILINE), proc.stdout
    assert "FAIL" not in proc.stdout


# --- (2b): Chromium reproduces the KAT byte for byte ----------------------------------------------

# Runs in the file as the intake serves it at /static/seal.js, under that document's CSP (the
# pages inline seal.js and allow no script by URL; tests/test_wire.py checks the inlined copy).
_RESEAL_IN_PAGE = """async ({ recipient, envelopes, streams }) => {
  const seal = await import('/static/seal.js');
  const unhex = h => new Uint8Array((h.match(/../g) || []).map(b => parseInt(b, 16)));
  const hex = b => Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
  const pk = unhex(recipient.pk);
  const out = { envelopes: [], streams: [] };
  for (const e of envelopes) {
    const eph = { sk: unhex(e.eph_sk), pk: unhex(e.eph_pk) };
    out.envelopes.push(hex(await seal.seal(pk, e.purpose, unhex(e.pt), unhex(e.context), eph)));
  }
  for (const s of streams) {
    const data = Uint8Array.from({ length: s.size }, (_, i) => i % 251);
    const eph = { sk: unhex(s.manifest_eph_sk), pk: unhex(s.manifest_eph_pk) };
    const sealed = await seal.sealFile(pk, data, s.name, s.type, unhex(s.key), eph);
    out.streams.push({ manifest: hex(sealed.manifest), chunks: sealed.chunks.map(hex) });
  }
  return out;
}"""


@pytest.mark.slow
def test_chromium_reproduces_the_kat(browser, live) -> None:
    kat = json.loads(KAT_FILE.read_text(encoding="utf-8"))
    page = open_page(browser, live, js=True)
    try:
        page.goto(live.url + "/static/seal.js")
        inputs = {
            "recipient": kat["recipient"],
            "envelopes": kat["envelopes"],
            "streams": [{k: v for k, v in s.items() if k != "chunks"} for s in kat["streams"]],
        }
        resealed = page.evaluate(_RESEAL_IN_PAGE, inputs)
        assert not page.js_errors
    finally:
        page.context.close()
    assert resealed["envelopes"] == [e["envelope"] for e in kat["envelopes"]]
    assert resealed["streams"] == [{"manifest": s["manifest"], "chunks": s["chunks"]} for s in kat["streams"]]


# --- (3): Python opens the KATs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def kat() -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads(KAT_FILE.read_text(encoding="utf-8"))
    return vectors


@pytest.fixture(scope="module")
def kat_key(kat: dict[str, Any]) -> KeyPair:
    recipient = kat["recipient"]
    private = load_private(bytes.fromhex(recipient["sk"]))
    pair = KeyPair.from_private(private)
    assert pair.public.hex() == recipient["pk"]
    assert key_id(pair.public).hex() == recipient["key_id"]
    return pair


def test_kat_covers_every_purpose(kat: dict[str, Any]) -> None:
    assert {e["purpose"] for e in kat["envelopes"]} == {p.label.decode() for p in Purpose}
    assert kat["suite"] == "DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"


def test_python_opens_every_kat_envelope(kat: dict[str, Any], kat_key: KeyPair) -> None:
    by_label = {p.label.decode(): p for p in Purpose}
    assert kat["envelopes"]
    for i, e in enumerate(kat["envelopes"]):
        envelope = bytes.fromhex(e["envelope"])
        purpose, context = by_label[e["purpose"]], bytes.fromhex(e["context"])
        opened = open_envelope(kat_key.private, purpose, envelope, context)
        assert opened == bytes.fromhex(e["pt"]), f"envelope[{i}]"
        assert len(envelope) == len(opened) + 94
        # the header is the start of the recorded HPKE info
        assert e["info"].startswith(e["envelope"][:26])
        assert bytes.fromhex(e["info"]) == envelope[:13] + purpose.label + b"\x00" + context
        with pytest.raises(OpenError):
            open_envelope(kat_key.private, purpose, envelope, context + b"x")


def test_python_opens_every_kat_stream(kat: dict[str, Any], kat_key: KeyPair) -> None:
    assert kat["streams"]
    for s in kat["streams"]:
        data = _pattern(s["size"])
        chunks = [bytes.fromhex(c) for c in s["chunks"]]
        manifest, opened = open_file(kat_key.private, bytes.fromhex(s["manifest"]), chunks)
        assert opened == data, f"stream of size {s['size']}"
        assert (manifest.name, manifest.type, manifest.size) == (s["name"], s["type"], s["size"])
        assert manifest.key == bytes.fromhex(s["key"])
        # STREAM is deterministic given the key: Python's chunks are byte-identical to the browser's
        assert encrypt_chunks(manifest.key, data) == chunks
        # and so is the manifest JSON
        assert manifest.to_json() == s["manifest_plaintext"].encode()
        assert Manifest.from_json(s["manifest_plaintext"].encode()) == manifest


# --- (4): interop with fresh keys --------------------------------------------------------------


@pytest.fixture(scope="module")
def recipient() -> KeyPair:
    return KeyPair.generate()


@needs_node
def test_js_seals_python_opens(recipient: KeyPair) -> None:
    cases = [
        (purpose, size, f"ctx:{purpose.label.decode()}:{size}".encode() if size % 2 else b"")
        for purpose in Purpose
        for size in JS_SIZES
    ]
    plaintexts = [_random(size, n) for n, (_, size, _) in enumerate(cases)]
    replies = _interop_many(
        [
            {
                "op": "seal",
                "pk": recipient.public.hex(),
                "purpose": p.label.decode(),
                "pt": pt.hex(),
                "context": c.hex(),
            }
            for (p, _, c), pt in zip(cases, plaintexts, strict=True)
        ]
    )
    for (purpose, _, context), plaintext, reply in zip(cases, plaintexts, replies, strict=True):
        envelope = bytes.fromhex(reply["envelope"])
        assert envelope[4] == purpose and envelope[5:13] == recipient.id
        assert open_envelope(recipient.private, purpose, envelope, context) == plaintext
        assert open_envelope({recipient.id: recipient.private}, purpose, envelope, context) == plaintext


@needs_node
def test_python_seals_js_opens(recipient: KeyPair) -> None:
    cases = [(purpose, size, b"case:0042" if size % 2 else b"") for purpose in Purpose for size in JS_SIZES]
    plaintexts = [_random(size, 1000 + n) for n, (_, size, _) in enumerate(cases)]
    envelopes = [seal(recipient.public, p, pt, c) for (p, _, c), pt in zip(cases, plaintexts, strict=True)]
    base = {"op": "open", "sk": recipient.scalar.hex(), "pk": recipient.public.hex()}
    replies = _interop_many(
        [
            {**base, "purpose": p.label.decode(), "envelope": env.hex(), "context": c.hex()}
            for (p, _, c), env in zip(cases, envelopes, strict=True)
        ]
    )
    for plaintext, reply in zip(plaintexts, replies, strict=True):
        assert "error" not in reply, reply.get("error")
        assert bytes.fromhex(reply["pt"]) == plaintext


@needs_node
def test_js_seal_file_python_open_file(recipient: KeyPair) -> None:
    files = [(_random(size, 2000 + size), f"pièce-{size}.bin", "application/octet-stream") for size in FILE_SIZES]
    replies = _interop_many(
        [
            {"op": "sealFile", "pk": recipient.public.hex(), "data": d.hex(), "name": name, "type": type_}
            for d, name, type_ in files
        ]
    )
    for (data, name, type_), reply in zip(files, replies, strict=True):
        chunks = [bytes.fromhex(c) for c in reply["chunks"]]
        manifest, opened = open_file(recipient.private, bytes.fromhex(reply["manifest"]), chunks)
        assert opened == data
        assert (manifest.name, manifest.type, manifest.size) == (name, type_, len(data))
        if len(chunks) > 1:  # and the browser's chunks are tamper-evident in Python too
            with pytest.raises(OpenError):
                open_file(recipient.private, bytes.fromhex(reply["manifest"]), chunks[::-1])


@needs_node
def test_python_seal_file_js_open_file(recipient: KeyPair) -> None:
    files = [(_random(size, 3000 + size), f"rapport-{size}.pdf", "application/pdf") for size in FILE_SIZES]
    sealed = [seal_file(recipient.public, d, name, type_) for d, name, type_ in files]
    base = {"op": "openFile", "sk": recipient.scalar.hex(), "pk": recipient.public.hex()}
    requests = [{**base, "manifest": m.hex(), "chunks": [c.hex() for c in cs]} for m, cs in sealed]
    # one tampered and one truncated stream, which JS must refuse
    big_manifest, big_chunks = sealed[-1]
    flipped = [*big_chunks]
    flipped[1] = flipped[1][:100] + bytes([flipped[1][100] ^ 4]) + flipped[1][101:]
    requests.append({**base, "manifest": big_manifest.hex(), "chunks": [c.hex() for c in flipped]})
    requests.append({**base, "manifest": big_manifest.hex(), "chunks": [c.hex() for c in big_chunks[:-1]]})
    replies = _interop_many(requests)
    for (data, name, type_), reply in zip(files, replies[: len(files)], strict=True):
        assert "error" not in reply, reply.get("error")
        assert (bytes.fromhex(reply["data"]), reply["name"], reply["type"]) == (data, name, type_)
    assert "error" in replies[-2] and "data" not in replies[-2]
    assert "error" in replies[-1] and "data" not in replies[-1]


def _flip(envelope: bytes, position: int, bit: int = 0) -> bytes:
    tampered = bytearray(envelope)
    tampered[position] ^= 1 << bit
    return bytes(tampered)


@needs_node
def test_js_envelope_with_a_flipped_bit_fails_in_python(recipient: KeyPair) -> None:
    reply = _interop({"op": "seal", "pk": recipient.public.hex(), "purpose": "report", "pt": b"from the browser".hex()})
    envelope = bytes.fromhex(reply["envelope"])
    assert open_envelope(recipient.private, Purpose.REPORT, envelope) == b"from the browser"
    for position in range(len(envelope)):
        with pytest.raises(OpenError):
            open_envelope(recipient.private, Purpose.REPORT, _flip(envelope, position, position % 8))


@needs_node
def test_python_envelope_with_a_flipped_bit_fails_in_js(recipient: KeyPair) -> None:
    envelope = seal(recipient.public, Purpose.MESSAGE, b"from the caseworker", b"case:1")
    base = {"op": "open", "sk": recipient.scalar.hex(), "pk": recipient.public.hex(), "purpose": "message"}
    # magic, purpose, key id, enc, ciphertext, tag
    positions = [0, 4, 7, 13, 40, 77, 78, 90, len(envelope) - 1]
    requests = [{**base, "envelope": _flip(envelope, p).hex(), "context": b"case:1".hex()} for p in positions]
    requests.append({**base, "envelope": envelope.hex(), "context": b"case:2".hex()})  # wrong context
    requests.append({**base, "envelope": envelope.hex(), "context": b"case:1".hex()})  # control
    replies = _interop_many(requests)
    assert bytes.fromhex(replies[-1]["pt"]) == b"from the caseworker"
    for position, reply in zip([*positions, "context"], replies[:-1], strict=True):
        assert "error" in reply and "pt" not in reply, f"JS opened an envelope altered at {position}"


# --- (5): seal.js stays small and self-contained -------------------------------------------------


def _strip_js(source: str) -> str:
    """Conservatively strip comments and indentation: never removes code, may keep some comments.

    Only comments that start a line are removed (``//`` lines and ``/* ... */`` blocks); a ``//``
    after code (which could be inside a string or regex) is kept and counted.
    """
    out: list[str] = []
    in_block = False
    for line in source.splitlines():
        text = line.strip()
        if in_block:
            if "*/" not in text:
                continue
            text = text.split("*/", 1)[1].strip()
            in_block = False
        while text.startswith("/*"):
            if "*/" in text[2:]:
                text = text[2:].split("*/", 1)[1].strip()
            else:
                in_block, text = True, ""
        if not text or text.startswith("//"):
            continue
        out.append(line.lstrip())
    return "\n".join(out) + "\n"


def test_js_stripper_is_conservative() -> None:
    sample = (
        "// header comment\n"
        "  /* block\n   comment */\n"
        "    const url = 'https://example.org'; // trailing\n"
        "/* one-line */ const x = 1;\n"
        "\n"
        "  const re = /[+/=]/g;\n"
    )
    stripped = _strip_js(sample)
    assert "header comment" not in stripped and "block" not in stripped
    assert "const url = 'https://example.org'; // trailing\n" in stripped
    assert "const x = 1;" in stripped
    assert "const re = /[+/=]/g;\n" in stripped
    assert not any(line.startswith(" ") for line in stripped.splitlines())


def test_seal_js_is_at_most_3072_bytes_gzipped() -> None:
    """Small enough to audit in one sitting and cheap over a slow connection, comments included."""
    source = SEAL_JS.read_bytes()
    size = len(gzip.compress(source, compresslevel=9, mtime=0))
    assert size <= 3072, f"seal.js is {size} bytes with gzip -9"
    assert "export async function seal(" in source.decode() and "export async function sealFile(" in source.decode()


def test_seal_js_reads_beside_rfc_9180() -> None:
    source = SEAL_JS.read_text(encoding="utf-8")
    long_lines = [n for n, line in enumerate(source.splitlines(), 1) if len(line) > 100]
    assert not long_lines, f"seal.js lines longer than 100 characters: {long_lines}"
    for name in ("LabeledExtract", "LabeledExpand", "ExtractAndExpand", "Encap", "KeySchedule", "SetupBaseS"):
        assert re.search(rf"^async function {name}\(", source, re.MULTILINE), f"seal.js has no function {name}"
    assert re.search(r"^function ComputeNonce\(", source, re.MULTILINE)
    for value in ("suite_id", "shared_secret", "kem_context", "key_schedule_context", "base_nonce", "psk_id_hash"):
        assert re.search(rf"\b{value}\b", source), f"seal.js does not name {value}"
    # the RFC sections are cited beside the code that implements them
    for section in ("§4", "§4.1", "§5.1", "§5.1.1", "§5.2"):
        assert f"RFC 9180 {section}" in source, f"seal.js does not cite RFC 9180 {section}"


def test_seal_js_has_no_imports() -> None:
    code = _strip_js(SEAL_JS.read_text(encoding="utf-8"))
    assert not re.search(r"^\s*import\b", code, re.MULTILINE), "seal.js must not import anything"
    assert not re.search(r"\bimport\s*\(", code), "seal.js must not import() anything"
    assert not re.search(r"\brequire\s*\(", code), "seal.js must not require() anything"
    assert not re.search(r"^\s*export\b[^;\n]*\bfrom\s*['\"]", code, re.MULTILINE), "seal.js must not re-export"


def test_seal_js_makes_no_network_calls() -> None:
    source = SEAL_JS.read_text(encoding="utf-8")
    for needle in ("fetch(", "XMLHttpRequest", "WebSocket", "sendBeacon", "EventSource", "importScripts"):
        assert needle not in source, f"seal.js contains {needle!r}"
