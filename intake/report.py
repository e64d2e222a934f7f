"""The report form, and filing it without JavaScript. Every page works without app.js, which
only improves them (it seals in the browser and posts to intake.api instead)."""

from __future__ import annotations

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from cases.blobs import WRITE_FAILURES, is_storage_full
from cases.limits import Busy, TooLarge
from cases.models import SealedIn
from cases.proof_of_work import Payment
from cases.sealing import seal_report

from . import answers, bodies
from .context import holds, intake
from .forms import ReceiptForm, ReportFields, ReportForm, posted
from .i18n import gettext as _
from .notices import stale_notice, storage_full_notice, too_large_notice, wait_notice
from .pages import bp, form_body_limit, paid, receipt_page, retry_later, show_form
from .sealed_request import sealed_files


@bp.get("/")
def form() -> ResponseReturnValue:
    return show_form()


@bp.get("/safety")
def safety() -> ResponseReturnValue:
    return render_template("safety.html")


@bp.post("/receipt")
def receipt() -> ResponseReturnValue:
    """The receipt of this page's submission again, in the language asked for: its language switch
    and a reload post here. The token shows only as long as the receipt box allows (cases.filing)."""
    form = ReceiptForm(posted())
    repeat = intake().filing.repeat(form.nonce.data, holds()) if form.validate() else None
    if repeat is None:
        return show_form(notice=stale_notice(), status=404)
    return receipt_page(repeat, form.nonce.data)


@bp.post("/report")
@bodies.limit(form_body_limit)
def submit() -> ResponseReturnValue:
    """The no-JavaScript path: files sealed as they arrived (cases.sealing), the answers sealed
    here in memory; only ciphertext is stored, then the receipt is shown."""
    values = request.form
    form = ReportForm(posted())
    if not form.nonce.validate(form):
        fresh = values.copy()
        fresh.pop("nonce", None)  # the form comes back with a fresh one
        return show_form(fresh, notice=stale_notice(), status=400)
    try:
        return _file(form, values)
    except Busy:
        return retry_later(values)
    except WRITE_FAILURES as exc:
        # A full disk (blobs, or the database at any write): the answers come back to send again.
        if not is_storage_full(exc):
            raise
        return retry_later(values, storage_full_notice())


def _file(form: ReportFields, values: MultiDict[str, str]) -> ResponseReturnValue:
    filing = intake().filing
    # A resent request (double tap, reload, network retry) shows the first receipt again.
    repeat = filing.repeat(form.nonce.data, holds())
    if repeat is not None:
        return receipt_page(repeat, form.nonce.data)
    if not form.validate():
        return show_form(values, form.problems(), _("Please look at the marked question."), status=400)
    paying = paid(form, form.nonce.data)
    if paying is not Payment.PAID:
        # A double tap whose twin, in another process, spent the form's challenge and is filing.
        repeat = filing.await_repeat(form.nonce.data) if paying is Payment.BY_TWIN else None
        if repeat is not None:
            return receipt_page(repeat, form.nonce.data)
        return show_form(values, notice=wait_notice(), status=400)
    collected = form.answers()
    public = filing.intake_key().public_key
    try:
        files = sealed_files(form.files.data, form.keep_original.data, public)
    except TooLarge as exc:
        return show_form(values, notice=too_large_notice(exc.what), status=413)
    envelope = seal_report(public, answers.report_json(collected, g.lang))
    with filing.blobs.undo_on_error():  # a full disk half way through leaves no orphan chunk
        receipt = filing.file_report(
            envelope=envelope,
            sealed_in=SealedIn.SERVER,
            urgent=answers.is_urgent(collected),
            nonce=form.nonce.data,
            holds=holds(),
            whole=files,
        )
    return receipt_page(receipt, form.nonce.data)
