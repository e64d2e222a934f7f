"""Remove identifying metadata (location, camera, dates, text) from JPEG and PNG photos.

Photos can identify or locate the people who send them, so uploads are stripped before sealing.
The browser does the same with intake/static/strip.js before it encrypts; this module is the
server-side twin for reporters without JavaScript and must give byte-identical results, so any
change here is made there too (tests/test_metadata.py checks that they agree).

The rules are deliberately narrow: only metadata segments/chunks are removed and everything else
is copied byte for byte (the JPEG scan after SOS, PNG chunks with their CRCs). On any doubt about
the structure the input is returned unchanged: a photo that cannot be parsed is sent as it is
rather than risk corrupting evidence, and this function never raises.
"""

from __future__ import annotations

import contextlib
import re
import struct

# Codes for what was removed, in the order they are reported.
CODES = ("gps", "camera", "date", "exif", "xmp", "iptc", "comment", "text", "other")
# Also untyped files: a photo saved without an extension arrives as "" or octet-stream, and its
# first bytes decide which parser runs anyway.
_TYPES = re.compile(r"image/(jpe?g|pjpeg|(x-)?png)|application/octet-stream|")
# Make, Model, CameraOwnerName, BodySerialNumber, LensSpecification/Make/Model/SerialNumber
_CAMERA = frozenset({0x010F, 0x0110, *range(0xA430, 0xA436)})
_DATE = frozenset({0x0132, 0x9003, 0x9004})  # DateTime, DateTimeOriginal, DateTimeDigitized
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_XMP = re.compile(rb"http://ns\.adobe\.com/(xap/1\.0|xmp/extension)/\0")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})

Ranges = list[tuple[int, int]]


def strip_metadata(data: bytes, content_type: str) -> tuple[bytes, list[str]]:
    """Return (stripped bytes, codes of what was removed); (data, []) if nothing was removed."""
    try:
        if not isinstance(data, bytes | bytearray) or not isinstance(content_type, str):
            return data, []
        if not _TYPES.fullmatch(content_type.split(";")[0].strip().lower()):
            return data, []
        found: set[str] = set()
        keep = _jpeg(data, found) if data[:2] == b"\xff\xd8" else _png(data, found)
        if not keep or not found:
            return data, []
        view = memoryview(data)
        return b"".join(view[start:end] for start, end in keep), [c for c in CODES if c in found]
    except Exception:  # a bug here must not cost the reporter their upload
        return data, []


def _tiff(blob: memoryview, found: set[str]) -> None:
    """Add the codes for the tags of a TIFF (EXIF) blob; it is dropped whatever it holds."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(blob[:2]))
    if order is None:
        return

    def u16(offset: int) -> int:
        return int(struct.unpack_from(order + "H", blob, offset)[0])

    def ifd(offset: int, top: bool) -> None:
        for i in range(u16(offset)):
            entry = offset + 2 + 12 * i
            tag = u16(entry)
            if tag in _CAMERA:
                found.add("camera")
            if tag in _DATE:
                found.add("date")
            if tag == _GPS_IFD:
                found.add("gps")
            if tag == _EXIF_IFD and top:  # the Exif sub-IFD, one level only (no loops)
                ifd(struct.unpack_from(order + "I", blob, entry + 8)[0], False)

    # A malformed blob just ends the look at the first out-of-bounds read, as in strip.js.
    with contextlib.suppress(struct.error):
        if u16(2) == 42:
            ifd(struct.unpack_from(order + "I", blob, 4)[0], True)


def _jpeg_code(marker: int, payload: memoryview, found: set[str]) -> str | None:
    """Why a JPEG segment is removed, or None to keep it."""
    if marker == 0xFE:
        return "comment"
    if marker >> 4 != 0xE:  # DQT, SOFn, DHT, DRI, ...: needed to decode
        return None
    head = bytes(payload[:36])
    if (
        (marker == 0xE0 and head[:5] in (b"JFIF\0", b"JFXX\0"))
        or (marker == 0xE2 and head.startswith(b"ICC_PROFILE\0"))
        or (marker == 0xEE and head.startswith(b"Adobe"))  # colour transform: needed to decode
    ):
        return None
    if marker == 0xE1 and head.startswith(b"Exif\0"):
        _tiff(payload[6:], found)
        return "exif"
    if marker == 0xE1 and _XMP.match(head):
        return "xmp"
    return "iptc" if marker == 0xED else "other"


def _jpeg(b: bytes, found: set[str]) -> Ranges | None:
    """Ranges to keep, or None when unsure. Stops at SOS: the scan is copied as is."""
    keep, n, i = [(0, 2)], len(b), 2
    while True:
        if i >= n or b[i] != 0xFF:
            return None
        while i < n and b[i] == 0xFF:  # fill bytes are dropped
            i += 1
        if i + 2 >= n:
            return None
        marker, end = b[i], i + 1 + (b[i + 1] << 8 | b[i + 2])
        # standalone markers (TEM, RSTn, SOI, EOI) have no business here
        if marker < 2 or 0xD0 <= marker <= 0xD9 or end < i + 3 or end > n:
            return None
        if marker == 0xDA:
            keep.append((i - 1, n))
            return keep
        code = _jpeg_code(marker, memoryview(b)[i + 3 : end], found)
        if code:
            found.add(code)
        else:
            keep.append((i - 1, end))
        i = end


def _png(b: bytes, found: set[str]) -> Ranges | None:
    """Every chunk but text, eXIf and tIME, CRC untouched; nothing after IEND. None when unsure."""
    if b[:8] != _PNG_SIGNATURE:
        return None
    keep, n, i = [(0, 8)], len(b), 8
    while True:
        if i + 12 > n:
            return None
        length, kind = int.from_bytes(b[i : i + 4], "big"), bytes(b[i + 4 : i + 8])
        end = i + 12 + length
        if length > 0x7FFFFFFF or end > n or not kind.isalpha() or (i == 8) != (kind == b"IHDR"):
            return None
        code = "text" if kind in _PNG_TEXT else "date" if kind == b"tIME" else None
        if kind == b"eXIf":
            chunk = memoryview(b)[i + 8 : end - 4]
            _tiff(chunk[6:] if bytes(chunk[:6]) == b"Exif\0\0" else chunk, found)  # some writers keep the JPEG prefix
            code = "exif"
        if code:
            found.add(code)
        else:
            keep.append((i, end))
        i = end
        if kind == b"IEND":
            if i < n:  # trailing data can hold the uncropped original (aCropalypse)
                found.add("other")
            return keep
