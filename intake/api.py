"""JSON endpoints used by app.js: everything they receive is already sealed in the browser."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.exc import NoResultFound

from cases import reports
from cases.models import Attachment, SealedIn
from crypto.stream import CHUNK_SIZE
from crypto.token import format_token

from . import bodies, schemas, views
from .filing import TooLarge, Upload, upload_allowed
from .limits import RETRY_AFTER_SECONDS, Busy
from .pow import Path, PowError

uploads = Blueprint("uploads", __name__, url_prefix="/api/upload")
MAX_SEALED_CHUNK = CHUNK_SIZE + 16


def _fail(message: str, status: int, **headers: str) -> ResponseReturnValue:
    return jsonify(error=message), status, headers


def _unsendable() -> ResponseReturnValue:
    return _fail(views.failed_notice(), 400)


def _unpaid() -> ResponseReturnValue:
    return _fail(views.wait_notice(), 400, **{"X-New-Challenge": views.pow_().challenge(Path.JS)})


def _paid(body: schemas.Paid) -> bool:
    try:
        views.pow_().verify(body.challenge, body.solution, form_allowed=False)
    except PowError:
        return False
    return True


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
        if not _paid(body):
            return _unpaid()
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
    if not _paid(body):
        return _unpaid()
    opened = views.open_with_token(body.token)
    if isinstance(opened, views.Refused):
        return _fail(_("This token does not open a report any more."), 403)
    try:
        sent = views.intake().follow_up(opened.case_id, team=body.team, mine=body.mine, declared=body.declared())
    except TooLarge as exc:
        return _fail(views.too_large_notice(exc.what), 413)
    except (ValueError, reports.Rejected):
        return _unsendable()
    return jsonify(uploads=_uploads(sent))


def _attachment(session, attachment_id: str) -> Attachment | None:  # type: ignore[no-untyped-def]
    try:
        attachment = session.get_one(Attachment, attachment_id)
    except NoResultFound:
        return None
    return attachment if upload_allowed(attachment, request.headers.get("X-Upload-Secret")) else None


@uploads.get("/<attachment_id>")
def progress(attachment_id: str):  # type: ignore[no-untyped-def]
    """What a resuming client asks: which chunks does the server already hold?"""
    with views.intake().db.session() as session:
        attachment = _attachment(session, attachment_id)
        if attachment is None:
            return jsonify(error="unknown upload"), 404
        return jsonify(have=reports.present_chunks(session, attachment), chunks=attachment.chunk_count)


@uploads.put("/<attachment_id>/<int:index>")
@bodies.limit(MAX_SEALED_CHUNK)
def chunk(attachment_id: str, index: int):  # type: ignore[no-untyped-def]
    data = request.get_data(cache=False)
    if not 16 <= len(data) <= MAX_SEALED_CHUNK:
        return jsonify(error="bad chunk size"), 400
    with views.intake().db.session() as session:
        attachment = _attachment(session, attachment_id)
        if attachment is None:
            return jsonify(error="unknown upload"), 404
        try:
            reports.put_chunk(session, views.intake().blobs, attachment, index, data)
        except reports.Rejected:
            return jsonify(error="chunk out of range"), 400
        return jsonify(complete=attachment.complete)
