"""JSON endpoints used by app.js: everything they receive is already sealed in the browser."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from cases import errors, uploads
from cases.filing import Receipt, Reporter, Upload
from cases.limits import Busy, TooLarge
from cases.models import SealedIn
from cases.proof_of_work import Payment
from cases.tokens import format_token
from web import compress

from . import bodies, schemas
from .context import holds, intake
from .notices import busy_notice, too_large_notice
from .pages import RETRY_LATER, bp, receipt_context
from .principal import json_failure, paid_json, reporter_json, unpaid, unsendable

chunks = Blueprint("uploads", __name__, url_prefix="/api/upload")


def _uploads(made: list[Upload]) -> list[dict[str, object]]:
    return [{"id": u.id, "secret": u.secret, "chunks": u.chunks} for u in made]


@bp.post("/api/report")
@bodies.limit(schemas.MAX_BODY_BYTES)
def report() -> ResponseReturnValue:
    try:
        document = schemas.document(request.get_data(cache=False))
    except schemas.BadBody:
        return unsendable()
    try:
        body = schemas.parse(schemas.ReportBody, document)
    except schemas.BadBody:
        return unsendable()
    # A resent submit is answered from its receipt box before any new work is asked for.
    receipt = intake().filing.repeat(body.nonce, holds(), body.declared())
    if receipt is None:
        paying = paid_json(body, body.nonce)
        if paying is not Payment.PAID:
            # Work paid by a copy of this submit in another process: it is filing the case.
            twin = paying is Payment.BY_TWIN
            receipt = intake().filing.await_repeat(body.nonce, body.declared()) if twin else None
            if receipt is None:
                return unpaid()
    if receipt is None:
        try:
            receipt = intake().filing.file_report(
                envelope=body.report,
                sealed_in=SealedIn.BROWSER,
                urgent=body.urgent,
                nonce=body.nonce,
                holds=holds(),
                declared=body.declared(),
            )
        except TooLarge as exc:
            return json_failure(too_large_notice(exc.what), 413)
        except Busy:
            return json_failure(busy_notice(), 503, RETRY_LATER)
        except errors.Invalid:
            return unsendable()
    return _receipt(receipt, body.nonce)


def _receipt(receipt: Receipt, nonce: str) -> ResponseReturnValue:
    # The receipt fragment is for the wait while files upload; without files app.js goes straight
    # to the receipt page (POST /<lang>/receipt), so 4 KB less crosses a slow link (§14.6.3).
    answer: dict[str, object] = {
        "token": format_token(receipt.token) if receipt.token else None,
        "uploads": _uploads(receipt.uploads),
    }
    if receipt.uploads:
        answer["receipt"] = compress.without_marks(render_template("_receipt.html", **receipt_context(receipt, nonce)))
    return jsonify(answer)


@bp.post("/api/message")
@bodies.limit(schemas.MAX_BODY_BYTES)
@reporter_json(schemas.MessageBody)
def message(body: schemas.MessageBody, reporter: Reporter) -> ResponseReturnValue:
    sent = intake().filing.follow_up(reporter, team=body.team, mine=body.mine, declared=body.declared())
    return jsonify(uploads=_uploads(sent))


@chunks.get("/<attachment_id>")
def progress(attachment_id: str) -> ResponseReturnValue:
    """What a resuming client asks: which chunks does the server already hold?"""
    try:
        have, count = uploads.progress(intake().db, attachment_id, request.headers.get("X-Upload-Secret", ""))
    except uploads.NoCapability:
        return jsonify(error="unknown upload"), 404
    return jsonify(have=have, chunks=count)


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


@chunks.put("/<attachment_id>/<int:index>")
@bodies.limit(uploads.MAX_SEALED_CHUNK)
def chunk(attachment_id: str, index: int) -> ResponseReturnValue:
    """Store one sealed chunk: only whole, only where it fits, only while the file is unfinished."""
    secret = request.headers.get("X-Upload-Secret", "")
    size = request.content_length
    if size is None:
        return jsonify(error="length required"), 411
    if size > uploads.MAX_SEALED_CHUNK:
        return jsonify(error="bad chunk size"), 413
    try:
        if uploads.admit(intake().db, attachment_id, secret, index, size):
            return jsonify(complete=True)  # a retry after the answer was lost: the file is done
        data = _whole_body(size)
        if data is None:
            return jsonify(error="the chunk did not arrive whole"), 400
        return jsonify(complete=uploads.store(intake().db, intake().blobs, attachment_id, secret, index, data))
    except uploads.NoCapability:
        return jsonify(error="unknown upload"), 404
    except uploads.Misplaced as exc:
        return jsonify(error=str(exc)), 400
