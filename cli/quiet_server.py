"""Serving an app without recording who connected, when, or which concrete path.

Werkzeug's development server writes the client address, a time stamp and the full path into
every log line and announces its version. This handler writes no access line at all: the apps
log each request themselves as method, route pattern and status (web/access_log.py), the same
under gunicorn. Only the server's own errors remain, without an address.
"""

from __future__ import annotations

import logging

from werkzeug.serving import WSGIRequestHandler


def anonymous_handler(app_name: str) -> type[WSGIRequestHandler]:
    log = logging.getLogger(f"rri.{app_name}.server")

    class AnonymousRequestHandler(WSGIRequestHandler):
        server_version = "reprisals"
        sys_version = ""

        def address_string(self) -> str:
            return "-"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # the app's own access log records the route pattern instead

        def log_error(self, format: str, *args: object) -> None:
            # werkzeug's error lines can quote the raw request line, path included
            log.error("bad request (%s)", args[0] if args else "-")

        def log(self, type: str, message: str, *args: object) -> None:
            getattr(log, type, log.info)(message, *args)

    return AnonymousRequestHandler
