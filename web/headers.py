"""HTTP response headers both apps send on every response (no Flask import: plain data).

The policy is strict by default: nothing loads from elsewhere, no inline script or style, no
framing, no referrer, nothing cached, because a cached page or script is a trace on a shared or
seized device. An app that inlines its own blocks (the intake: one response per page) builds its
policies with ``policy``, which allows exactly those blocks by their SHA-256 hashes and still
never ``'unsafe-inline'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

if TYPE_CHECKING:  # typing only: this module imports no Flask at run time
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from flask import Flask


def policy(
    scripts: Iterable[str] = ("'self'",),
    styles: Iterable[str] = ("'self'",),
    images: Iterable[str] = ("'self'",),
    media: Iterable[str] = (),
) -> str:
    """A Content-Security-Policy whose script and style sources are ``scripts`` and ``styles``
    (source expressions: ``'self'``, ``'sha256-…'``; none at all gives ``'none'``).

    ``media`` may only be ``("blob:",)``: the pages that record a voice note play it back from
    the page's own memory; without it, ``default-src 'none'`` refuses every audio and video."""
    scripts, styles, images, media = tuple(scripts), tuple(styles), tuple(images), tuple(media)
    for source in (*scripts, *styles, *(i for i in images if i != "data:")):  # data: images run nothing
        if source in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*") or ":" in source:
            raise ValueError(f"refused CSP source {source}")
    if media not in ((), ("blob:",)):
        raise ValueError(f"refused media sources {media}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + (" ".join(scripts) or "'none'"),
            "style-src " + (" ".join(styles) or "'none'"),
            "img-src " + " ".join(images),
            *(["media-src " + " ".join(media)] if media else []),
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


CSP = policy()

# No page may use the camera, the microphone or the location, except the intake's two pages where
# a reporter records a voice note (the report form and the status page), which send RECORDING.
PERMISSIONS = "camera=(), microphone=(), geolocation=()"
RECORDING = "camera=(), microphone=(self), geolocation=()"

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS,
    "Cache-Control": "no-store, max-age=0",
}


class HeaderMap(Protocol):
    """What ``apply`` needs of werkzeug's Headers (or a plain dict in tests)."""

    def __contains__(self, name: str, /) -> bool: ...
    def __setitem__(self, name: str, value: str, /) -> None: ...
    def __getitem__(self, name: str, /) -> str: ...


def apply(headers: HeaderMap) -> None:
    """Set every security header on a response's header map (werkzeug Headers or a dict).

    A Content-Security-Policy the view set itself is kept: the only view that does so is the
    caseworker's file download, whose sandbox policy is stricter than the pages' policy. So is a
    Permissions-Policy of exactly ``RECORDING``, which only the intake's recording pages set.
    """
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy" and name in headers:
            continue
        if name == "Permissions-Policy" and name in headers and headers[name] == RECORDING:
            continue
        headers[name] = value


_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))
REFUSED = b"Bad request: the address contains characters that are not allowed.\n"


def _has_control(text: str) -> bool:
    return not _CONTROL.isdisjoint(text)


def refuse_control_characters(app: Flask) -> None:
    """Answer 400 to a path or query holding a NUL or another control character, before routing.

    No legitimate address carries one, and a NUL reaching PostgreSQL through a URL segment is an
    error rather than a miss. Installed as WSGI middleware so it runs before any view or hook.
    """
    inner = app.wsgi_app

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        query = unquote(environ.get("QUERY_STRING", ""), errors="replace")
        if _has_control(environ.get("PATH_INFO", "")) or _has_control(query):
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(REFUSED))),
                    *SECURITY_HEADERS.items(),
                ],
            )
            return [REFUSED]
        return inner(environ, start_response)

    setattr(app, "wsgi_app", guarded)  # noqa: B010 - the typed way to wrap a bound method
