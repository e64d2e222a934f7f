"""Serving the intake app without recording who connected, or exactly when.

Werkzeug's development server writes the client address and a time stamp into every log line,
and gunicorn's default access-log format records the address and user agent. Both are replaced
here, so the only trace of a request is its method, path (never a query string) and status.
"""

from __future__ import annotations

import logging

from werkzeug.serving import WSGIRequestHandler

#: gunicorn access-log format: method, path without query, status, bytes; no %(h)s, %(a)s, %(t)s.
GUNICORN_ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(B)s"

access_log = logging.getLogger("rri.intake.access")


class AnonymousRequestHandler(WSGIRequestHandler):
    def address_string(self) -> str:
        return "-"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = getattr(code, "value", code)
        access_log.info("%s %s %s", self.command, self.path.split("?", 1)[0], status)

    def log(self, type: str, message: str, *args: object) -> None:
        getattr(access_log, type, access_log.info)(message, *args)
