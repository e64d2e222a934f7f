"""A case's files, handed out only as opaque downloads."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response, g
from flask.typing import ResponseReturnValue

from cases import attachments, errors

from . import session as staff_session
from .case_blueprint import bp, keys, refusal
from .context import desk

# A download must never become a page: no script, no plugin, no same-origin access.
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def ascii_filename(name: str) -> str:
    """A file name any browser and file system accepts: ASCII letters, digits, . _ - only."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9._-]", "", re.sub(r"\s+", "_", folded)).lstrip(".-_")[:120]
    return safe or "attachment"


def content_disposition(name: str) -> str:
    """Always ``attachment``; the original name only percent-encoded (RFC 5987/6266)."""
    original = quote(name[:255].encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{original}"


@bp.get("/cases/<case_id>/files/<attachment_id>")
@staff_session.require(*staff_session.STAFF)
def download(case_id: str, attachment_id: str) -> ResponseReturnValue:
    with desk().db.session() as session:
        try:
            opened = attachments.open_file(session, desk().blobs, case_id, attachment_id, keys(), g.user.id)
        except errors.DomainError as exc:
            return refusal(case_id, exc)  # a refused file's audit event is committed with it
    response = Response(opened.chunks(), mimetype="application/octet-stream", direct_passthrough=True)
    # Whatever the manifest claims (HTML, SVG, PDF...), the browser gets opaque bytes to save.
    response.headers["Content-Disposition"] = content_disposition(opened.name)
    response.headers["Content-Length"] = str(opened.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response
