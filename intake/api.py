"""JSON endpoints used by app.js: everything they receive is already sealed in the browser."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cases import intake_writes, reports
from cases.blobs import chunk_key
from cases.models import SealedIn
from crypto.stream import CHUNK_SIZE
from crypto.token import format_token

from . import bodies, schemas, views
from .filing import NotFound, TooLarge, Upload
from .limits import RETRY_AFTER_SECONDS, Busy
from .pow import Path, Payment

uploads = Blueprint("uploads", __name__, url_prefix="/api/upload")
MAX_SEALED_CHUNK = CHUNK_SIZE + 16


def _fail(message: str, status: int, **headers: str) -> ResponseReturnValue:
    return jsonify(error=message), status, headers


def _unsendable() -> ResponseReturnValue:
    return _fail(views.failed_notice(), 400)


def _unpaid() -> ResponseReturnValue:
    return _fail(views.wait_notice(), 400, **{"X-New-Challenge": views.pow_().challenge(Path.JS)})


def _paid(body: schemas.Paid, nonce: str | None = None) -> Payment:
    return views.pow_().pay(body.challenge, body.solution, form_allowed=False, nonce=nonce)


def _uploads(uploads: list[Upload]) -> list[dict[str, object]]:
    return [{"id": u.id, "secret": u.secret, "chunks": u.chunks} for u in uploads]


@views.bp.post("/api/report")
@bodies.limit(schemas.MAX_BODY_BYTES)
def report():  # type: ignore[no-untyped-def]
    try:
        document = schemas.document(request.get_data(cache=False))
    except schemas.BadBody:
        return _unsendable()
    # A resent submit is answered from its receipt box before any new work is asked for.
    nonce = schemas.nonce_of(document)
    receipt = views.intake().repeat(nonce) if nonce else None
    if receipt is None:
        try:
            body = schemas.parse(schemas.ReportBody, document)
        except schemas.BadBody:
            return _unsendable()
        paid = _paid(body, body.nonce)
        if paid is not Payment.PAID:
            # Work paid by a copy of this submit in another process: it is filing the case.
            receipt = views.intake().await_repeat(body.nonce) if paid is Payment.BY_TWIN else None
            if receipt is None:
                return _unpaid()
    if receipt is None:
        try:
            receipt = views.intake().file_report(
                envelope=body.report,
                sealed_in=SealedIn.BROWSER,
                urgent=body.urgent,
                nonce=body.nonce,
                declared=body.declared(),
            )
        except TooLarge as exc:
            return _fail(views.too_large_notice(exc.what), 413)
        except Busy:
            return _fail(views.busy_notice(), 503, **{"Retry-After": str(RETRY_AFTER_SECONDS)})
        except (ValueError, reports.Rejected):
            return _unsendable()
    receipt_html = render_template("_receipt.html", receipt=receipt, contacts=views.emergency_contacts())
    return jsonify(
        receipt=receipt_html,
        token=format_token(receipt.token) if receipt.token else None,
        uploads=_uploads(receipt.uploads),
    )


@views.bp.post("/api/message")
@bodies.limit(schemas.MAX_BODY_BYTES)
def message():  # type: ignore[no-untyped-def]
    try:
        body = schemas.parse(schemas.MessageBody, schemas.document(request.get_data(cache=False)))
    except schemas.BadBody:
        return _unsendable()
    if _paid(body) is not Payment.PAID:
        return _unpaid()
    opened = views.open_with_token(body.token)
    if isinstance(opened, views.Refused):
        return _fail(_("This token does not open a report any more."), 403)
    try:
        sent = views.intake().follow_up(opened.case_id, team=body.team, mine=body.mine, declared=body.declared())
    except NotFound:  # the channel was deleted since the token opened the case
        return _fail(_("This token does not open a report any more."), 403)
    except TooLarge as exc:
        return _fail(views.too_large_notice(exc.what), 413)
    except (ValueError, reports.Rejected):
        return _unsendable()
    return jsonify(uploads=_uploads(sent))


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
@bodies.limit(MAX_SEALED_CHUNK)
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
