"""JSON endpoints used by app.js: everything they receive is already sealed in the browser."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _

from cases import intake_writes, reports
from cases.blobs import chunk_key
from cases.models import SealedIn
from crypto.stream import CHUNK_SIZE
from crypto.token import format_token

from . import views
from .filing import TooLarge
from .limits import RETRY_AFTER_SECONDS, Busy

uploads = Blueprint("uploads", __name__, url_prefix="/api/upload")
MAX_SEALED_CHUNK = CHUNK_SIZE + 16


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64") from exc


def _declared(body: dict) -> list[tuple[bytes, int]]:
    files = body.get("files") or []
    if not isinstance(files, list):
        raise ValueError("files must be a list")
    declared = []
    for item in files:
        count = item.get("chunks") if isinstance(item, dict) else None
        if not isinstance(count, int) or count < 1:
            raise ValueError("bad chunk count")
        declared.append((_b64(item.get("manifest")), count))
    return declared


def _fail(message: str, status: int, **headers: str):  # type: ignore[no-untyped-def]
    return jsonify(error=message), status, headers


def _checked_body(repeatable: bool = False) -> tuple[dict | None, object]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None, _fail(_("Something went wrong while sending. Nothing was lost: please try again."), 400)
    # A resent submit is answered from its receipt box before any new work is asked for.
    nonce = str(body.get("nonce") or "")
    if repeatable and nonce and views.check_csrf(body) is None and views.intake().repeat(nonce) is not None:
        return body, None
    notice = views.check_request(body)  # type: ignore[arg-type]
    if notice:
        return None, _fail(notice, 400, **{"X-New-Challenge": views.pow_().challenge()})
    return body, None


@views.bp.post("/api/report")
def report():  # type: ignore[no-untyped-def]
    body, failure = _checked_body(repeatable=True)
    if failure:
        return failure
    try:
        envelope = _b64(body.get("report"))
        declared = _declared(body)
        receipt = views.intake().file_report(
            envelope=envelope,
            sealed_in=SealedIn.BROWSER,
            urgent=body.get("urgent") is True,
            nonce=str(body.get("nonce") or ""),
            declared=declared,
        )
    except TooLarge as exc:
        return _fail(views.too_large_notice(exc.what), 413)
    except Busy:
        return _fail(views.busy_notice(), 503, **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    except (ValueError, reports.Rejected):
        return _fail(_("Something went wrong while sending. Nothing was lost: please try again."), 400)
    receipt_html = render_template("_receipt.html", receipt=receipt, contacts=views.emergency_contacts())
    return jsonify(
        receipt=receipt_html,
        token=format_token(receipt.token) if receipt.token else None,
        uploads=[{"id": u.id, "secret": u.secret, "chunks": u.chunks} for u in receipt.uploads],
    )


@views.bp.post("/api/message")
def message():  # type: ignore[no-untyped-def]
    body, failure = _checked_body()
    if failure:
        return failure
    opened, lookup_failure = views.open_with_token({"token": str(body.get("token", ""))}, checked=True)
    if lookup_failure:
        return _fail(_("This token does not open a report any more."), 403)
    case_id, _reporter, _token = opened
    try:
        mine = _b64(body["mine"]) if body.get("mine") else None
        sent = views.intake().follow_up(case_id, team=_b64(body.get("team")), mine=mine, declared=_declared(body))
    except TooLarge as exc:
        return _fail(views.too_large_notice(exc.what), 413)
    except (ValueError, KeyError, reports.Rejected):
        return _fail(_("Something went wrong while sending. Nothing was lost: please try again."), 400)
    return jsonify(uploads=[{"id": u.id, "secret": u.secret, "chunks": u.chunks} for u in sent])


@uploads.get("/<attachment_id>")
def progress(attachment_id: str):  # type: ignore[no-untyped-def]
    """What a resuming client asks: which chunks does the server already hold?"""
    with views.intake().db.session() as session:
        try:
            state = intake_writes.lock_upload(session, attachment_id, request.headers.get("X-Upload-Secret", ""))
        except intake_writes.NoCapability:
            return jsonify(error="unknown upload"), 404
        have = list(range(state.chunk_count)) if state.complete else reports.present_chunks_of(session, attachment_id)
        return jsonify(have=have, chunks=state.chunk_count)


def _whole_body(expected: int) -> bytes | None:
    """The request body if all ``expected`` bytes arrived; None if the link broke before.

    gunicorn hands the app a short body when the client closes mid-request, without an error.
    """
    data = bytearray()
    while len(data) < expected:
        part = request.stream.read(expected - len(data))
        if not part:
            return None
        data += part
    return bytes(data)


@uploads.put("/<attachment_id>/<int:index>")
def chunk(attachment_id: str, index: int):  # type: ignore[no-untyped-def]
    """Store one sealed chunk: only whole, only where it fits, only while the file is unfinished."""
    secret = request.headers.get("X-Upload-Secret", "")
    size = request.content_length
    if size is None:
        return jsonify(error="length required"), 411
    if size > MAX_SEALED_CHUNK:
        return jsonify(error="bad chunk size"), 413
    # The capability and the chunk's place in the file are checked before the body is read.
    with views.intake().db.session() as session:
        try:
            state = intake_writes.lock_upload(session, attachment_id, secret)
        except intake_writes.NoCapability:
            return jsonify(error="unknown upload"), 404
    if state.complete:
        return jsonify(complete=True)  # a retry after the answer was lost: the file is done
    if not reports.chunk_fits(index, state.chunk_count, size):
        return jsonify(error="this chunk does not fit its place in the file"), 400
    data = _whole_body(size)
    if data is None:
        return jsonify(error="the chunk did not arrive whole"), 400
    with views.intake().db.session() as session:
        try:
            # Locked again, so chunks of one file are stored one at a time; a file finished
            # meanwhile by a copy of this request is not written again.
            if intake_writes.lock_upload(session, attachment_id, secret).complete:
                return jsonify(complete=True)
            views.intake().blobs.put(chunk_key(attachment_id, index), data)
            complete = intake_writes.record_chunk(session, attachment_id, secret, index, size)
        except intake_writes.NoCapability:
            return jsonify(error="unknown upload"), 404
        return jsonify(complete=complete)
