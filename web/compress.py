"""Brotli or gzip by the application itself, so a plain install is light on the wire without a
proxy. Brotli, where the browser offers it (Chromium and Firefox do, Tor Browser included), is
smaller on these pages than gzip, which is the fallback.

Answers to GET and HEAD are compressed (HTML and JSON, from ``MIN_BYTES`` up). An answer to a
request that carries a body is compressed only when its view asked for it (``allow_post``) AND
the request passed the CSRF check: that is the BREACH decision (docs/protocol.md §13). BREACH
recovers a secret from a compressed response when an attacker can put text of their choosing
into the same response and watch its size over many requests. The intake's GET pages reflect
nothing of the request but a checked language code and route (no query string is read). A POST
that passed the CSRF check came from one of our own pages in the reporter's own browser session
(SameSite=Strict cookie and its token), so no third party chose a byte of it; and the secrets a
page echoes in hidden fields (the CSRF token, the reporter's token) are masked afresh in every
answer (intake.csrf.mask), so their bytes never repeat and compression cannot reveal them. A
secret a page must show in clear (the receipt's token) is marked with ``keep_stored`` and goes out
in a stored block nothing refers to (``gzip_keeping``). Views ask only for pages whose token was
proven (the status page) and for the receipt; every refusal (a failed CSRF check, a mistyped or
unknown token, a form sent back with its answers) goes out uncompressed.

``Vary: Accept-Encoding`` goes on every answer that could have been compressed, so a cache in
between (none should keep anything: every answer is no-store) never mixes the two forms.
"""

from __future__ import annotations

import gzip
import struct
import zlib

import brotli
from flask import Flask, Request, Response, g, request

MIN_BYTES = 512  # below this, the frame and the header cost more than they save
LEVEL = 9  # pages are small: the best ratio costs well under a millisecond
# Brotli's 10 and 11 save another tenth but cost 50 ms of CPU per form page instead of about 1 ms.
BROTLI_QUALITY = 6
COMPRESSIBLE = frozenset({"text/html", "application/json"})
# Our own static files hold no secret, so BREACH does not apply; they are sent from disk.
STATIC_TYPES = frozenset({"text/javascript", "application/javascript", "text/css"})
SAFE_METHODS = frozenset({"GET", "HEAD"})


def allow_post() -> None:
    """Let this request's answer be compressed though it is a POST: call it only from a view
    whose page echoes no text but the poster's own, masks every secret it echoes and marks every
    secret it shows with ``keep_stored`` (see the module).
    It takes effect only if the request also passed Flask-WTF's CSRF check (``g.csrf_valid``)."""
    g.compress_post = True


MARK = "\0"  # brackets a secret in a rendered body; removed before the answer leaves


def keep_stored(secret: str) -> str:
    """Mark ``secret`` in a page (the receipt's token) to go out in a stored, uncompressed deflate
    block that nothing refers to, so the page can be compressed though it shows a secret in clear:
    see ``gzip_keeping``. The marks (NUL, which no page holds otherwise) are always removed."""
    g.stored_secrets = True
    return MARK + secret + MARK


def without_marks(text: str) -> str:
    """A rendered fragment with its ``keep_stored`` marks removed, for an answer that carries it
    inside another format (the receipt in the JSON answer, which is never compressed)."""
    return text.replace(MARK, "")


def _unmark(body: bytes) -> list[tuple[bytes, bool]]:
    """The body as (bytes, is_secret) pieces, by the marks ``keep_stored`` placed."""
    parts = body.split(MARK.encode())
    if len(parts) % 2 == 0:
        raise ValueError("an unpaired secret mark")
    return [(part, i % 2 == 1) for i, part in enumerate(parts) if part]


def gzip_keeping(pieces: list[tuple[bytes, bool]]) -> bytes:
    """gzip (RFC 1952) of the pieces in which each secret is a stored block that nothing refers to,
    so the answer's length does not depend on the secret's bytes (BREACH), whatever else the page
    holds (even the secret itself, typed by an attacker elsewhere in it). One deflate stream of
    runs, each ended by a full flush (byte-aligned); a fresh compressor per run is primed with all
    that came before, the secrets replaced by as many NULs (distances stay right; the pages hold
    no NUL, so no reference can land on one), then an empty final block."""
    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # no name, mtime 0, best, OS unknown
    seen = bytearray()
    crc = 0
    for data, is_secret in pieces:
        if is_secret:
            run = zlib.compressobj(0, zlib.DEFLATED, -15)
        elif seen:
            run = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, zdict=bytes(seen[-32768:]))
        else:
            run = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        out += run.compress(data) + run.flush(zlib.Z_FULL_FLUSH)
        seen += bytes(len(data)) if is_secret else data
        crc = zlib.crc32(data, crc)
    out += zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    out += struct.pack("<II", crc, sum(len(d) for d, _ in pieces) & 0xFFFFFFFF)
    return bytes(out)


def _may_compress(req: Request) -> bool:
    if req.method in SAFE_METHODS:
        return True
    return req.method == "POST" and bool(g.get("compress_post")) and bool(g.get("csrf_valid"))


def chosen_encoding(req: Request) -> str | None:
    """ "br" or "gzip" as the request allows (``;q=0`` refuses), or None for the body as it is."""
    for name in ("br", "gzip"):
        if req.accept_encodings[name] > 0:
            return name
    return None


def compress(response: Response) -> Response:
    """gzip ``response`` in place if the request and the response allow it (see the module)."""
    if response.mimetype in STATIC_TYPES and response.direct_passthrough:
        response.direct_passthrough = False  # read the file into memory: a few KB at most
        response.set_data(response.get_data())
    pieces = None
    if g.get("stored_secrets") and not (response.direct_passthrough or response.is_streamed):
        pieces = _unmark(response.get_data())
        response.set_data(b"".join(data for data, _ in pieces))
    if (
        response.mimetype not in COMPRESSIBLE | STATIC_TYPES
        or response.direct_passthrough
        or response.is_streamed
        or response.status_code < 200
        or response.status_code in (204, 206, 304)
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    encoding = chosen_encoding(request) if _may_compress(request) else None
    if pieces is not None:
        # Python's Brotli gives no control over its blocks: a page with a secret in clear is gzip.
        encoding = "gzip" if encoding is not None and request.accept_encodings["gzip"] > 0 else None
    if encoding is None:
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    if pieces is not None:
        packed = gzip_keeping(pieces)
    elif encoding == "br":
        packed = brotli.compress(body, quality=BROTLI_QUALITY)
    else:
        packed = gzip.compress(body, LEVEL, mtime=0)
    response.set_data(packed)  # sets Content-Length
    response.headers["Content-Encoding"] = encoding
    return response


def install(app: Flask) -> None:
    """Compress every eligible answer of ``app`` (register after hooks that change the body)."""
    app.after_request(compress)
