"""Photo metadata stripping: cases/metadata.py and its browser twin intake/static/strip.js.

The test images are built here byte by byte (no Pillow): a tiny known-good baseline JPEG and a
zlib-built PNG, with every kind of metadata added around them and a canary string in each field,
so "nothing identifying survives" is a plain substring check. The JS side runs through
tests/js/strip_cli.mjs and must give the same bytes and codes; those tests skip without Node.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.metadata import CODES, strip_metadata

REPO = Path(__file__).resolve().parents[1]
STRIP_JS = REPO / "intake" / "static" / "strip.js"
CLI = REPO / "tests" / "js" / "strip_cli.mjs"
NODE = shutil.which("node")


def needs_node(test: Callable[..., None]) -> Callable[..., None]:
    """Runs Node: slow, and skipped where Node is not installed."""
    return pytest.mark.slow(
        pytest.mark.skipif(NODE is None, reason="node is not installed: cannot run intake/static/strip.js")(test)
    )


JPEG, PNG = "image/jpeg", "image/png"

# An 8x8 baseline JPEG (Pillow 13, quality 50, gradient), made once; it holds only JFIF APP0,
# DQT x2, SOF0, DHT x4, SOS, the scan and EOI.
BASE_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123"
    "251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffdb0043011112"
    "121815182f1a1a2f63423842636363636363636363636363636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363ffc00011080008000803012200021101031101ffc4001f0000010501010101010100"
    "000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221"
    "31410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a"
    "434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596979899"
    "9aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1"
    "f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100"
    "020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f015"
    "6272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4"
    "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f0083"
    "4fd0ba7c94514573d5c4d4e6dcbc062eafb15a9fffd9"
)
SOI, APP0 = BASE_JPEG[:2], BASE_JPEG[2:20]
TABLES = BASE_JPEG[20 : BASE_JPEG.index(b"\xff\xc0")]  # the two DQT segments
FRAME = BASE_JPEG[len(SOI + APP0 + TABLES) :]  # SOF0, DHTs, SOS, scan, EOI

CANARY = re.compile(rb"CANARY-[A-Z-]+")
# The GPS coordinates as they appear on disk, for both byte orders.
LATITUDE = ((52, 1), (31, 1), (123456, 10000))
LONGITUDE = ((13, 1), (24, 1), (654321, 10000))
GPS_RATIONALS = [struct.pack(f"{o}6I", *sum(LATITUDE, ())) for o in "<>"] + [
    struct.pack(f"{o}6I", *sum(LONGITUDE, ())) for o in "<>"
]

# --- building images ------------------------------------------------------------------------------

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 1, 2, 3, 4, 5, 7
Ifd = dict[int, tuple[int, object]]


def _encode(order: str, kind: int, value: object) -> tuple[int, bytes]:
    """(count, bytes) of a TIFF field value."""
    if kind == ASCII:
        data = str(value).encode() + b"\0"
        return len(data), data
    if kind in (BYTE, UNDEFINED):
        return len(bytes(value)), bytes(value)  # type: ignore[call-overload]  # a field's value is loosely typed
    values = list(value)  # type: ignore[call-overload]  # a field's value is loosely typed
    if kind == RATIONAL:
        return len(values), b"".join(struct.pack(f"{order}2I", *v) for v in values)
    return len(values), struct.pack(f"{order}{len(values)}{'H' if kind == SHORT else 'I'}", *values)


def _ifd(order: str, entries: Ifd, at: int) -> bytes:
    """One IFD placed at offset `at`, with its out-of-line values right after it."""
    items = sorted(entries.items())
    head, extra = struct.pack(f"{order}H", len(items)), b""
    data_at = at + 2 + 12 * len(items) + 4
    for tag, (kind, value) in items:
        count, data = _encode(order, kind, value)
        if len(data) <= 4:
            field = data.ljust(4, b"\0")
        else:
            field = struct.pack(f"{order}I", data_at + len(extra))
            extra += data + b"\0" * (len(data) % 2)
        head += struct.pack(f"{order}HHI", tag, kind, count) + field
    return head + struct.pack(f"{order}I", 0) + extra


def tiff(order: str, ifd0: Ifd, exif: Ifd | None = None, gps: Ifd | None = None) -> bytes:
    """A TIFF (EXIF) blob: IFD0 at offset 8, then the Exif and GPS sub-IFDs it points to."""
    ifd0 = dict(ifd0)
    subs = [(tag, entries) for tag, entries in ((0x8769, exif), (0x8825, gps)) if entries is not None]
    for tag, _ in subs:
        ifd0[tag] = (LONG, [0])  # pointer sizes do not depend on their values
    at, blobs = 8 + len(_ifd(order, ifd0, 8)), b""
    for tag, entries in subs:
        ifd0[tag] = (LONG, [at + len(blobs)])
        blobs += _ifd(order, entries, at + len(blobs))
    magic = b"II*\0" if order == "<" else b"MM\0*"
    return magic + struct.pack(f"{order}I", 8) + _ifd(order, ifd0, 8) + blobs


CAMERA_IFD0: Ifd = {
    0x010F: (ASCII, "CANARY-CAMERA-MAKE"),
    0x0110: (ASCII, "CANARY-CAMERA-MODEL"),
    0x0132: (ASCII, "CANARY-DATE-TIME"),
    0x013B: (ASCII, "CANARY-EXIF-ARTIST"),
}
EXIF_IFD: Ifd = {
    0x9003: (ASCII, "CANARY-DATE-ORIGINAL"),
    0x9004: (ASCII, "CANARY-DATE-DIGITIZED"),
    0x9286: (UNDEFINED, b"ASCII\0\0\0CANARY-EXIF-USER-COMMENT"),
    0xA431: (ASCII, "CANARY-SERIAL"),
    0xA434: (ASCII, "CANARY-CAMERA-LENS"),
}
GPS_IFD: Ifd = {
    0x0000: (BYTE, b"\x02\x03\x00\x00"),
    0x0001: (ASCII, "N"),
    0x0002: (RATIONAL, LATITUDE),
    0x0003: (ASCII, "E"),
    0x0004: (RATIONAL, LONGITUDE),
    0x001B: (UNDEFINED, b"ASCII\0\0\0CANARY-GPS"),
}


def full_tiff(order: str) -> bytes:
    return tiff(order, CAMERA_IFD0, EXIF_IFD, GPS_IFD)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def exif_segment(blob: bytes) -> bytes:
    return segment(0xE1, b"Exif\0\0" + blob)


XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
XMP_PACKET = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="CANARY-XMP-GPS" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="CANARY-XMP"/></rdf:RDF></x:xmpmeta>'
    b'<?xpacket end="w"?>'
)
# Photoshop image resource 0x0404 (IPTC-NAA) holding a caption (2:120) and a byline (2:80).
_IPTC = b"\x1c\x02\x78\x00\x0bCANARY-IPTC\x1c\x02\x50\x00\x12CANARY-IPTC-BYLINE"
IPTC_PAYLOAD = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", len(_IPTC)) + _IPTC + b"\0"
ICC = segment(0xE2, b"ICC_PROFILE\0\x01\x01" + bytes(range(128)))
ADOBE = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")  # transform 1: YCbCr, as the default


def jpeg_with_metadata(order: str) -> bytes:
    return (
        SOI
        + APP0
        + exif_segment(full_tiff(order))
        + segment(0xE1, XMP_ID + XMP_PACKET)
        + ICC
        + segment(0xED, IPTC_PAYLOAD)
        + ADOBE
        + segment(0xE2, b"MPF\0CANARY-OTHER-MPF")
        + segment(0xEB, b"JP\0\0CANARY-OTHER-JUMBF")  # APP11: C2PA content credentials
        + TABLES
        + segment(0xFE, b"CANARY-COMMENT")
        + FRAME
    )


JPEG_KEPT = SOI + APP0 + ICC + ADOBE + TABLES + FRAME  # what the stripped image must be exactly
JPEG_REMOVED = ["gps", "camera", "date", "exif", "xmp", "iptc", "comment", "other"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_PIXELS = zlib.compress(b"".join(b"\0" + bytes(v for x in range(4) for v in (x * 60, y * 60, 128)) for y in range(4)))
PNG_IHDR = chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
PNG_PHYS = chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
PNG_IDAT = chunk(b"IDAT", _PIXELS[:10]) + chunk(b"IDAT", _PIXELS[10:])  # split: every IDAT must survive
PNG_IEND = chunk(b"IEND", b"")
CLEAN_PNG = PNG_SIGNATURE + PNG_IHDR + PNG_PHYS + PNG_IDAT + PNG_IEND


def png_with_metadata(order: str) -> bytes:
    return (
        PNG_SIGNATURE
        + PNG_IHDR
        + chunk(b"tEXt", b"Author\0CANARY-PNGTEXT-AUTHOR")
        + chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"CANARY-PNGTEXT-Z"))
        + chunk(b"iTXt", b"Description\0\0\0en\0\0CANARY-PNGTEXT-I")
        + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP_PACKET)
        + PNG_PHYS
        + chunk(b"eXIf", full_tiff(order))
        + chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 6, 7, 8, 9))
        + PNG_IDAT
        + chunk(b"tEXt", b"Comment\0CANARY-PNGTEXT-LATE")  # text may follow the image data
        + PNG_IEND
    )


PNG_KEPT = PNG_SIGNATURE + PNG_IHDR + PNG_PHYS + PNG_IDAT + PNG_IEND
PNG_REMOVED = ["gps", "camera", "date", "exif", "text"]

FULL_IMAGES = {
    "jpeg-II": (jpeg_with_metadata("<"), JPEG, JPEG_KEPT, JPEG_REMOVED),
    "jpeg-MM": (jpeg_with_metadata(">"), JPEG, JPEG_KEPT, JPEG_REMOVED),
    "png-II": (png_with_metadata("<"), PNG, PNG_KEPT, PNG_REMOVED),
    "png-MM": (png_with_metadata(">"), PNG, PNG_KEPT, PNG_REMOVED),
}


def _jpeg(*segments: bytes) -> bytes:
    return SOI + APP0 + b"".join(segments) + TABLES + FRAME


# Smaller images, each isolating one rule: (bytes, type, expected removed).
CASES: dict[str, tuple[bytes, str, list[str]]] = {
    "jpeg-clean": (BASE_JPEG, JPEG, []),
    "jpeg-icc-adobe-kept": (JPEG_KEPT, JPEG, []),
    "jpeg-comment": (_jpeg(segment(0xFE, b"CANARY-COMMENT")), JPEG, ["comment"]),
    "jpeg-make-only": (_jpeg(exif_segment(tiff("<", {0x010F: (ASCII, "CANARY-CAMERA")}))), JPEG, ["camera", "exif"]),
    "jpeg-gps-only": (_jpeg(exif_segment(tiff(">", {}, gps=GPS_IFD))), JPEG, ["gps", "exif"]),
    "jpeg-date-original": (
        _jpeg(exif_segment(tiff(">", {}, exif={0x9003: (ASCII, "CANARY-DATE")}))),
        JPEG,
        ["date", "exif"],
    ),
    "jpeg-serial-in-exif-ifd": (
        _jpeg(exif_segment(tiff("<", {}, exif={0xA431: (ASCII, "CANARY-SERIAL")}))),
        JPEG,
        ["camera", "exif"],
    ),
    "jpeg-exif-other-tags": (
        _jpeg(exif_segment(tiff("<", {0x0112: (SHORT, [1]), 0x013B: (ASCII, "CANARY-ARTIST")}))),
        JPEG,
        ["exif"],
    ),
    "jpeg-exif-malformed": (_jpeg(segment(0xE1, b"Exif\0\0II*\0\xff\xff\xff\x7fCANARY-EXIF")), JPEG, ["exif"]),
    "jpeg-exif-ifd-out-of-bounds": (
        _jpeg(exif_segment(b"MM\0*\0\0\0\x08\0\x09" + b"\x01\x0f\0\x02\0\0\0\x04CAN\0")),
        JPEG,
        ["camera", "exif"],
    ),
    "jpeg-exif-empty": (_jpeg(segment(0xE1, b"Exif\0")), JPEG, ["exif"]),
    "jpeg-xmp-extension": (
        _jpeg(segment(0xE1, b"http://ns.adobe.com/xmp/extension/\0CANARY-XMP-EXT")),
        JPEG,
        ["xmp"],
    ),
    "jpeg-app1-unknown": (_jpeg(segment(0xE1, b"CANARY-OTHER-APP1")), JPEG, ["other"]),
    "jpeg-app0-not-jfif": (_jpeg(segment(0xE0, b"AVI1\0CANARY-OTHER")), JPEG, ["other"]),
    "jpeg-app2-not-icc": (_jpeg(segment(0xE2, b"FPXR\0CANARY-OTHER")), JPEG, ["other"]),
    "jpeg-app14-not-adobe": (_jpeg(segment(0xEE, b"CANARY-OTHER")), JPEG, ["other"]),
    "jpeg-app13-any": (_jpeg(segment(0xED, b"CANARY-IPTC")), JPEG, ["iptc"]),
    "jpeg-empty-segments": (_jpeg(segment(0xFE, b""), segment(0xE5, b"")), JPEG, ["comment", "other"]),
    "png-clean": (CLEAN_PNG, PNG, []),
    "png-time-only": (PNG_SIGNATURE + PNG_IHDR + chunk(b"tIME", bytes(7)) + PNG_IDAT + PNG_IEND, PNG, ["date"]),
    "png-exif-with-jpeg-prefix": (
        PNG_SIGNATURE + PNG_IHDR + chunk(b"eXIf", b"Exif\0\0" + tiff(">", {}, gps=GPS_IFD)) + PNG_IDAT + PNG_IEND,
        PNG,
        ["gps", "exif"],
    ),
    "png-exif-garbage": (
        PNG_SIGNATURE + PNG_IHDR + chunk(b"eXIf", b"CANARY-EXIF") + PNG_IDAT + PNG_IEND,
        PNG,
        ["exif"],
    ),
    "png-trailing-data": (CLEAN_PNG + b"CANARY-TRAILER", PNG, ["other"]),
    "png-labelled-jpeg": (png_with_metadata("<"), JPEG, PNG_REMOVED),
    "jpeg-labelled-png": (jpeg_with_metadata("<"), PNG, JPEG_REMOVED),
}
CASES.update({name: (data, kind, removed) for name, (data, kind, _, removed) in FULL_IMAGES.items()})


# --- independent structure checks -----------------------------------------------------------------


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, payload) of each segment before SOS, and everything from SOS on. Asserts structure."""
    assert data[:2] == b"\xff\xd8", "no SOI"
    segments: list[tuple[int, bytes]] = []
    i = 2
    while True:
        assert data[i] == 0xFF, f"no marker at {i}"
        while data[i] == 0xFF:
            i += 1
        marker, length = data[i], int.from_bytes(data[i + 1 : i + 3], "big")
        assert marker not in (0x00, 0x01, *range(0xD0, 0xDA)), f"standalone marker {marker:#x} at {i}"
        assert length >= 2 and i + 1 + length <= len(data), f"segment {marker:#x} overruns"
        if marker == 0xDA:
            return segments, data[i - 1 :]
        segments.append((marker, data[i + 3 : i + 1 + length]))
        i += 1 + length


def png_chunks(data: bytes, crc: bool = False) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(type, raw chunk bytes) of each chunk up to IEND, and what follows it. Asserts IHDR first."""
    assert data[:8] == PNG_SIGNATURE
    chunks: list[tuple[bytes, bytes]] = []
    i = 8
    while not chunks or chunks[-1][0] != b"IEND":
        length = int.from_bytes(data[i : i + 4], "big")
        kind, body, end = data[i + 4 : i + 8], data[i + 8 : i + 8 + length], i + 12 + length
        assert len(body) == length and end <= len(data), f"chunk at {i} overruns"
        assert not crc or zlib.crc32(kind + body) == int.from_bytes(data[end - 4 : end]), f"bad CRC at {i}"
        chunks.append((kind, data[i : i + 12 + length]))
        i += 12 + length
    assert chunks[0][0] == b"IHDR"
    return chunks, data[i:]


def assert_clean(data: bytes, out: bytes) -> None:
    """`out` is a well-formed image of the same kind holding none of the metadata, same pixels."""
    if data[:2] == b"\xff\xd8":
        segments, scan = jpeg_segments(out)
        assert scan == jpeg_segments(data)[1], "the scan changed"
        for marker, payload in segments:
            assert marker != 0xFE
            if marker >> 4 == 0xE:
                assert (marker, payload[:5]) in ((0xE0, b"JFIF\0"), (0xE0, b"JFXX\0"), (0xEE, b"Adobe")) or (
                    marker == 0xE2 and payload.startswith(b"ICC_PROFILE\0")
                ), f"APP{marker - 0xE0} kept"
    else:
        chunks, trailer = png_chunks(out)
        assert trailer == b"", "data after IEND kept"
        # exactly the input's chunks, byte for byte, less the metadata ones
        dropped = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
        assert chunks == [(kind, raw) for kind, raw in png_chunks(data)[0] if kind not in dropped]
    assert strip_metadata(out, JPEG) == (out, []), "stripping is not idempotent"


def check(data: bytes, content_type: str) -> tuple[bytes, list[str]]:
    """Strip and check the invariants that hold for any input at all."""
    out, removed = strip_metadata(data, content_type)
    assert removed == [c for c in CODES if c in removed] and len(set(removed)) == len(removed)
    if not removed:
        assert out is data
    else:
        assert_clean(data, out)
    return out, removed


# --- the stripping itself -------------------------------------------------------------------------


@pytest.mark.parametrize("name", FULL_IMAGES)
def test_every_kind_of_metadata_is_removed(name: str) -> None:
    data, content_type, kept, removed = FULL_IMAGES[name]
    assert len(set(CANARY.findall(data))) >= 10  # the canaries really are there to begin with
    assert any(gps in data for gps in GPS_RATIONALS)
    out, codes = check(data, content_type)
    assert codes == removed
    assert out == kept
    if content_type == PNG:
        assert png_chunks(out, crc=True)[1] == b""
    assert not CANARY.search(out)
    assert not any(gps in out for gps in GPS_RATIONALS)


@pytest.mark.parametrize("name", CASES)
def test_codes(name: str) -> None:
    data, content_type, removed = CASES[name]
    out, codes = check(data, content_type)
    assert codes == removed
    assert not CANARY.search(out)


@pytest.mark.parametrize("name", ["jpeg-clean", "jpeg-icc-adobe-kept", "png-clean"])
def test_a_clean_image_comes_back_unchanged(name: str) -> None:
    data, content_type, _ = CASES[name]
    assert strip_metadata(data, content_type) == (data, [])
    assert strip_metadata(bytearray(data), content_type) == (data, [])  # type: ignore[arg-type]  # a bytearray is taken too


def test_fill_bytes_before_markers_are_accepted() -> None:
    data = SOI + APP0 + b"\xff\xff" + segment(0xFE, b"CANARY-COMMENT") + b"\xff" + TABLES + FRAME
    out, removed = check(data, JPEG)
    assert (out, removed) == (BASE_JPEG, ["comment"])


@pytest.mark.parametrize("content_type", ["image/jpeg", "IMAGE/JPEG; foo=bar", " image/jpg ", "image/pjpeg"])
def test_jpeg_content_types(content_type: str) -> None:
    assert strip_metadata(jpeg_with_metadata("<"), content_type)[1] == JPEG_REMOVED


@pytest.mark.parametrize("content_type", ["image/png", "image/x-png", "Image/PNG;x=y"])
def test_png_content_types(content_type: str) -> None:
    assert strip_metadata(png_with_metadata(">"), content_type)[1] == PNG_REMOVED


@pytest.mark.parametrize("content_type", ["", "application/octet-stream"])
def test_untyped_photos_are_stripped_by_their_bytes(content_type: str) -> None:
    """A photo saved without an extension still loses its location."""
    assert strip_metadata(jpeg_with_metadata("<"), content_type)[1] == JPEG_REMOVED
    assert strip_metadata(png_with_metadata(">"), content_type)[1] == PNG_REMOVED


@pytest.mark.parametrize("content_type", ["text/plain", "image/gif", "image/jpegx", "image/", None, 7])
def test_other_types_are_left_alone(content_type: object) -> None:
    for data in (jpeg_with_metadata("<"), png_with_metadata("<")):
        out, removed = strip_metadata(data, content_type)  # type: ignore[arg-type]  # callers may pass anything
        assert out is data and removed == []


@pytest.mark.parametrize(
    "data", [b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF89a" + bytes(30), None]
)
def test_tiny_and_foreign_inputs_are_left_alone(data: bytes) -> None:
    for content_type in (JPEG, PNG):
        out, removed = strip_metadata(data, content_type)
        assert out is data and removed == []


def _sos_header_end(data: bytes) -> int:
    scan = jpeg_segments(data)[1]
    return len(data) - len(scan) + 2 + int.from_bytes(scan[2:4], "big")


@pytest.mark.parametrize("name", FULL_IMAGES)
def test_every_truncation(name: str) -> None:
    """Cut before the scan: unchanged. Cut inside the scan: stripped, with the same cut scan."""
    data, content_type, kept, removed = FULL_IMAGES[name]
    header_end = _sos_header_end(data) if content_type == JPEG else len(data) + 1
    for cut in range(len(data)):
        out, codes = strip_metadata(data[:cut], content_type)
        if cut < header_end:
            assert codes == [] and out == data[:cut], cut
        else:
            assert codes == removed and out == kept[: len(kept) - (len(data) - cut)], cut


@pytest.mark.parametrize("name", ["jpeg-II", "png-MM"])
def test_garbage_after_a_valid_marker_is_left_alone(name: str) -> None:
    data, content_type, _, _ = FULL_IMAGES[name]
    rng = random.Random(name)
    for at in range(2 if content_type == JPEG else 8, 400):
        garbage = bytes([rng.randrange(0xFF)]) + rng.randbytes(rng.randrange(40))  # never a marker (0xFF)
        if content_type == PNG:  # a chunk length over 2^31 or running past the end
            garbage = bytes([rng.randrange(0x80, 0x100)]) + garbage
        out, codes = strip_metadata(data[:at] + garbage, content_type)
        assert codes == [] and out == data[:at] + garbage


def test_segment_lengths_that_lie_are_left_alone() -> None:
    comment = segment(0xFE, b"CANARY-COMMENT")
    for length in (0, 1, 0xFFFF):
        data = _jpeg(comment[:2] + struct.pack(">H", length) + comment[4:])
        assert strip_metadata(data, JPEG) == (data, [])
    no_sos = SOI + APP0 + segment(0xFE, b"CANARY-COMMENT") + TABLES + b"\xff\xd9"
    assert strip_metadata(no_sos, JPEG) == (no_sos, [])
    no_ihdr = PNG_SIGNATURE + chunk(b"tEXt", b"a\0b") + PNG_IHDR + PNG_IDAT + PNG_IEND
    bad_type = PNG_SIGNATURE + PNG_IHDR + chunk(b"tE#t", b"a\0b") + chunk(b"tEXt", b"a\0b") + PNG_IDAT + PNG_IEND
    two_ihdr = PNG_SIGNATURE + PNG_IHDR + chunk(b"tEXt", b"a\0b") + PNG_IHDR + PNG_IDAT + PNG_IEND
    for data in (no_ihdr, bad_type, two_ihdr):
        assert strip_metadata(data, PNG) == (data, [])


# --- never raise, never corrupt -------------------------------------------------------------------

TYPES = st.sampled_from([JPEG, PNG, "image/jpg", "application/octet-stream"])
SEEDS = [jpeg_with_metadata("<"), jpeg_with_metadata(">"), png_with_metadata("<"), png_with_metadata(">")]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip, insert or delete a few bytes, mostly in the metadata and headers."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(min(len(out), 700))
        op = rng.randrange(3)
        if op == 0:
            out[at] = rng.randrange(256)
        elif op == 1:
            out[at:at] = rng.randbytes(rng.randrange(1, 5))
        else:
            del out[at : at + rng.randrange(1, 5)]
    return bytes(out)


@given(st.binary(max_size=3000), TYPES)
def test_random_bytes(data: bytes, content_type: str) -> None:
    check(data, content_type)


@given(
    st.sampled_from([b"\xff\xd8", b"\xff\xd8\xff", SOI + APP0, PNG_SIGNATURE, PNG_SIGNATURE + PNG_IHDR]), st.binary()
)
def test_random_bytes_after_a_valid_start(start: bytes, rest: bytes) -> None:
    check(start + rest, JPEG)


@given(st.sampled_from(SEEDS), st.integers(0, 2**32))
def test_mutated_images(data: bytes, seed: int) -> None:
    check(mutate(data, random.Random(seed)), JPEG)


# --- the browser's strip.js gives the same answers ------------------------------------------------


def _run_js(job: tuple[Path, bytes, str]) -> tuple[bytes, list[str]]:
    folder, data, content_type = job
    assert NODE is not None
    source, target = folder / "in", folder / "out"
    folder.mkdir()
    source.write_bytes(data)
    proc = subprocess.run(
        [NODE, str(CLI), str(source), content_type, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return target.read_bytes(), json.loads(proc.stdout)["removed"]


def _compare_with_js(tmp_path: Path, inputs: list[tuple[bytes, str]]) -> None:
    jobs = [(tmp_path / str(n), data, content_type) for n, (data, content_type) in enumerate(inputs)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(_run_js, jobs))
    for (data, content_type), (js_out, js_removed) in zip(inputs, results, strict=True):
        out, removed = strip_metadata(data, content_type)
        assert (js_out, js_removed) == (out, removed), f"{content_type} {data[:40].hex()}"


@needs_node
def test_js_matches_python_on_every_test_image(tmp_path: Path) -> None:
    inputs = [(data, content_type) for data, content_type, _ in CASES.values()]
    inputs += [(data, kind) for data in (b"", b"hello", BASE_JPEG) for kind in ("", "text/plain", "image/PNG; a=b")]
    _compare_with_js(tmp_path, inputs)


@needs_node
def test_js_matches_python_on_damaged_images(tmp_path: Path) -> None:
    rng = random.Random(20240506)
    inputs: list[tuple[bytes, str]] = []
    for data in SEEDS:
        inputs += [(data[: rng.randrange(len(data))], JPEG) for _ in range(6)]
        inputs += [(mutate(data, rng), PNG) for _ in range(14)]
    _compare_with_js(tmp_path, inputs)


def test_strip_js_stays_small() -> None:
    """It is fetched when a reporter picks a file, often over slow or watched connections."""
    source = STRIP_JS.read_text()
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("//"))
    code = re.sub(r"\s+//.*", "", code)
    assert len(code.encode()) < 3072, len(code.encode())
