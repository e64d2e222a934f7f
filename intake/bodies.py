"""Each route declares the largest body it accepts; a larger one is refused (413) unread.

The limit is set on the request in a before-request hook that runs ahead of CSRFProtect (which
reads the form), so a huge declared Content-Length is answered at once, before a byte of the body
is read, and a body without a length stops being read at the route's limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, abort, current_app, request

DEFAULT_LIMIT = 64 * 1024  # any route that declares nothing: small forms only
F = TypeVar("F", bound=Callable[..., object])
_DECLARED: dict[Callable[..., object], int | Callable[[], int]] = {}


def limit(max_bytes: int | Callable[[], int]) -> Callable[[F], F]:
    """Declare a view's body limit, just below the route decorator: ``@limit(1024)``, or a
    function of the app's settings, called per request."""

    def declare(view: F) -> F:
        _DECLARED[view] = max_bytes
        return view

    return declare


def _enforce() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    declared = _DECLARED.get(view, DEFAULT_LIMIT) if view else DEFAULT_LIMIT
    max_bytes = declared() if callable(declared) else declared
    request.max_content_length = max_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        abort(413)


def install(app: Flask) -> None:
    """Install before any hook that may read the body (call it before CSRFProtect's init)."""
    app.before_request(_enforce)
