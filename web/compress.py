"""gzip by the application itself, so a plain install is light on the wire without a proxy.

Only answers to GET and HEAD are compressed (HTML and JSON, from ``MIN_BYTES`` up), and never an
answer to a request that carries a body: that is the BREACH decision (docs/protocol.md §13).
BREACH recovers a secret from a compressed response when an attacker can put text of their
choosing into the same response and watch its size over many requests. The intake's GET pages
reflect nothing of the request but a checked language code and route (no query string is read),
so nothing chosen by anyone else sits next to their CSRF token. The answers to POSTs are the
ones that echo what was sent (the form refilled with answers, the token typed on the status
page, the receipt's token, the reporter's messages): those go out uncompressed.

``Vary: Accept-Encoding`` goes on every answer that could have been compressed, so a cache in
between (none should keep anything: every answer is no-store) never mixes the two forms.
"""

from __future__ import annotations

import gzip

from flask import Flask, Request, Response, request

MIN_BYTES = 512  # below this, gzip's 18-byte frame and the header cost more than they save
LEVEL = 6  # zlib's default: within 1% of level 9 on these pages, a third of its time
COMPRESSIBLE = frozenset({"text/html", "application/json"})
SAFE_METHODS = frozenset({"GET", "HEAD"})


def accepts_gzip(req: Request) -> bool:
    """The client accepts gzip (``gzip`` or ``*`` with a quality above zero)."""
    return req.accept_encodings["gzip"] > 0


def compress(response: Response) -> Response:
    """gzip ``response`` in place if the request and the response allow it (see the module)."""
    if (
        response.mimetype not in COMPRESSIBLE
        or response.direct_passthrough
        or response.is_streamed
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    if request.method not in SAFE_METHODS or not accepts_gzip(request):
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=LEVEL, mtime=0))  # sets Content-Length
    response.headers["Content-Encoding"] = "gzip"
    return response


def install(app: Flask) -> None:
    """Compress every eligible answer of ``app`` (register after hooks that change the body)."""
    app.after_request(compress)
