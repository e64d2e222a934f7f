"""Serving an app without recording who connected, or exactly when.

Werkzeug's development server writes the client address and a time stamp into every log line
and announces its version. This handler keeps only method, path (never a query string) and
status, under a logger named for the app. (gunicorn gets the same treatment from the access-log
format in deploy/.)
"""

from __future__ import annotations

import logging

from werkzeug.serving import WSGIRequestHandler


def anonymous_handler(app_name: str) -> type[WSGIRequestHandler]:
    log = logging.getLogger(f"rri.{app_name}.access")

    class AnonymousRequestHandler(WSGIRequestHandler):
        server_version = "reprisals"
        sys_version = ""

        def address_string(self) -> str:
            return "-"

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.info("%s %s %s", self.command, self.path.split("?", 1)[0], getattr(code, "value", code))

        def log(self, type: str, message: str, *args: object) -> None:
            getattr(log, type, log.info)(message, *args)

    return AnonymousRequestHandler
