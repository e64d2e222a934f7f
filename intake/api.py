"""JSON endpoints used by app.js: everything they receive is already sealed in the browser."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import NoResultFound

from cases import reports
from cases.models import Attachment, SealedIn
from crypto.stream import CHUNK_SIZE
from crypto.token import format_token

from . import views
from .filing import TooLarge, upload_allowed
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
