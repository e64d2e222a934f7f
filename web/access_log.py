"""An access log that cannot link requests: method, matched route pattern and status only.

A concrete path holds identifiers (an upload id, a language, a case id) that tie one reporter's
requests together, and a time stamp pins them down; so the record is the route's pattern, e.g.
``PUT /api/upload/<attachment_id>/<int:index> 200``, with no time, address or user agent. Both
apps log this way under gunicorn and ``reprisals serve``, whose own access logs are off.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask, Response, request

UNMATCHED = "<no route>"


def install(app: Flask, app_name: str) -> None:
    log = logging.getLogger(f"rri.{app_name}.access")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))  # deliberately no %(asctime)s
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    @app.after_request
    def _log(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        log.info("%s %s %s", request.method, rule, response.status_code)
        return response
