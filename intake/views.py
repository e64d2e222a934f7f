"""The reporter's pages. Every one works without JavaScript; app.js only improves them.

Nothing a reporter types is ever in a URL (so it cannot reach history or a log): tokens and
reports travel only in POST bodies, and every page is served no-store.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import FileStorage, MultiDict

from cases import conversation
from cases.blobs import StorageFull, is_storage_full
from cases.intake_keys import current as current_intake_key
from cases.models import Case, SealedIn
from cases.questionnaire import DANGER, SECTIONS
from crypto.envelope import Purpose, seal
from crypto.errors import TokenError, TokenTypo
from crypto.keys import KeyPair

from . import answers, bodies, csrf
from .filing import Intake, NotFound, TooLarge
from .forms import DeleteForm, FollowUpForm, PaidForm, ReportForm, TokenForm, posted
from .i18n import LANGUAGES
from .limits import RETRY_AFTER_SECONDS, Busy
from .pow import Path, Payment, ProofOfWork
from .sealing import Budget, SealingFile


@dataclass(frozen=True)
class Opened:
    """A token that opened its case."""

    case_id: str
    reporter: KeyPair
    token: str


@dataclass(frozen=True)
class Refused:
    """The answer to a token that did not open a case, explaining why."""

    response: ResponseReturnValue


bp = Blueprint("reporter", __name__, url_prefix="/<lang>")


def intake() -> Intake:
    return current_app.extensions["rri.intake"]


def pow_() -> ProofOfWork:
    return current_app.extensions["rri.pow"]


@bp.url_value_preprocessor
def _pull_lang(endpoint, values) -> None:  # type: ignore[no-untyped-def]
    lang = values.pop("lang", "en") if values else "en"
    if lang not in LANGUAGES:
        abort(404)
    g.lang = lang


@bp.url_defaults
def _push_lang(endpoint, values) -> None:  # type: ignore[no-untyped-def]
    values.setdefault("lang", getattr(g, "lang", "en"))


def form_body_limit() -> int:
    """The no-JS report or follow-up: all its files, and room for the answers around them."""
    return intake().settings.max_total_bytes + 2 * 1024 * 1024


def emergency_contacts() -> list[dict[str, str]]:
    return intake().contacts


def _form_context(values: MultiDict | None = None, errors: dict[str, str] | None = None, notice: str = "") -> dict:
    with intake().db.session() as session:
        key = current_intake_key(session)
        public = base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode()
    limits = intake().settings
    return {
        "sections": SECTIONS,
        "danger": DANGER,
        "values": values or MultiDict(),
        "errors": errors or {},
        "notice": notice,
        "contacts": emergency_contacts(),
        "intake_public_key": public,
        "csrf_token": csrf.token(),
        **challenges(),
        "nonce": (values or MultiDict()).get("nonce") or secrets.token_urlsafe(18),
        "max_file_mb": limits.max_file_bytes // (1024 * 1024),
        "max_total_mb": limits.max_total_bytes // (1024 * 1024),
        "max_files": limits.max_files,
    }


def show_form(
    values: MultiDict | None = None, errors: dict[str, str] | None = None, notice: str = "", status: int = 200
):  # type: ignore[no-untyped-def]
    return render_template("form.html", **_form_context(values, errors, notice)), status


def challenges() -> dict[str, str]:
    """A page's two challenges: one a plain form post pays with time, one app.js pays with work."""
    return {"challenge": pow_().challenge(Path.FORM), "js_challenge": pow_().challenge(Path.JS)}


def retry_later(values: MultiDict[str, str]) -> ResponseReturnValue:
    """The form again, with the reporter's answers, asking to send again in a while."""
    page, _code = show_form(values, notice=busy_notice())
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def busy_notice() -> str:
    return _("The service is very busy right now. Nothing was lost: please wait a minute and send again.")


def storage_full_notice() -> str:
    return _(
        "We cannot store anything right now. Nothing was kept: please try again later. "
        "Your answers are still here, but please choose your files again."
    )


@bp.app_errorhandler(StorageFull)
@bp.app_errorhandler(DBAPIError)
def _storage_full(error: Exception) -> tuple[object, int, dict[str, str]]:
    """A full disk (blob store or database) outside the forms that keep the reporter's answers:
    the transaction was rolled back, so nothing was kept, and the client retries later."""
    if not is_storage_full(error):
        current_app.logger.error("database error on %s", request.url_rule, exc_info=error)
        return render_template("error.html", code=500), 500, {}
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if "/api/" in request.path:
        return {"error": storage_full_notice()}, 503, retry
    return render_template("error.html", code=503), 503, retry


def too_large_notice(what: str) -> str:
    limits = intake().settings
    if what == "count":
        return _(
            "You can send at most %(count)d files at once. You can send more later with your token.",
            count=limits.max_files,
        )
    if what == "file":
        return _(
            "One of the files is larger than %(mb)d MB. Try a shorter video or a smaller photo, or send it later.",
            mb=limits.max_file_bytes // (1024 * 1024),
        )
    return _(
        "Together the files are larger than %(mb)d MB. Send some now and the rest later with your token.",
        mb=limits.max_total_bytes // (1024 * 1024),
    )


def stale_notice() -> str:
    return _("This page was open too long or came from somewhere else. Please check your answers and send again.")


def failed_notice() -> str:
    return _("Something went wrong while sending. Nothing was lost: please try again.")


def wait_notice() -> str:
    return _("Please wait a few seconds and send again. Nothing was lost.")


def paid(form: PaidForm, nonce: str | None = None) -> Payment:
    """Proof-of-work for a form post: a solved JS challenge, or a form challenge old enough."""
    return pow_().pay(form.challenge.data or "", form.solution.data or None, form_allowed=True, nonce=nonce)


def csrf_failed(_error: CSRFError) -> ResponseReturnValue:
    """CSRFProtect refused a POST: answer it the way its route answers other mistakes."""
    if request.endpoint in ("reporter.report", "reporter.message"):
        return jsonify(error=stale_notice()), 400, {"X-New-Challenge": pow_().challenge()}
    if request.endpoint == "reporter.submit":
        return show_form(request.form, notice=stale_notice(), status=400)
    if request.endpoint in ("reporter.status", "reporter.follow_up", "reporter.delete_channel"):
        return _lookup_failed(stale_notice())
    return render_template("error.html", code=400), 400


def _sealed_files(storages: list[FileStorage], keep_original: bool, public: bytes) -> list[tuple[bytes, list[bytes]]]:
    """The files intake.sealing sealed while the body arrived; raises TooLarge or Busy."""
    budget: Budget | None = getattr(request, "budget", None)
    if budget is not None and budget.too_large:
        raise TooLarge(budget.too_large)
    if budget is not None and budget.busy:
        raise Busy()
    sealed = []
    for storage in storages:
        stream = storage.stream
        finished = stream.finish(keep_original) if isinstance(stream, SealingFile) else None
        if finished is not None:
            manifest, chunks = finished
            sealed.append((seal(public, Purpose.ATTACHMENT_MANIFEST, manifest), chunks))
    return sealed


@bp.get("/")
def form():  # type: ignore[no-untyped-def]
    return show_form()


@bp.post("/report")
@bodies.limit(form_body_limit)
def submit():  # type: ignore[no-untyped-def]
    """The no-JavaScript path: files sealed as they arrived (intake.sealing), the answers sealed
    here in memory; only ciphertext is stored, then the receipt is shown."""
    values = request.form
    form = ReportForm(posted())
    if not form.nonce.validate(form):
        values = values.copy()
        values.pop("nonce", None)  # the form comes back with a fresh one
        return show_form(values, notice=stale_notice(), status=400)
    try:
        return _file_no_js(form, values)
    except Busy:
        return retry_later(values)
    except (StorageFull, DBAPIError) as exc:
        # A full disk (blobs, or the database at any write): the answers come back to send again.
        if not is_storage_full(exc):
            raise
        page, _code = show_form(values, notice=storage_full_notice())
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _file_no_js(form: ReportForm, values: MultiDict[str, str]) -> ResponseReturnValue:
    # A resent request (double tap, reload, network retry) shows the first receipt again.
    repeat = intake().repeat(form.nonce.data)
    if repeat is not None:
        return render_template("receipt.html", receipt=repeat, contacts=emergency_contacts())
    if not form.validate():
        return show_form(values, form.problems(), _("Please look at the marked question."), status=400)
    paying = paid(form, form.nonce.data)
    if paying is not Payment.PAID:
        # A double tap whose twin, in another process, spent the form's challenge and is filing.
        repeat = intake().await_repeat(form.nonce.data) if paying is Payment.BY_TWIN else None
        if repeat is not None:
            return render_template("receipt.html", receipt=repeat, contacts=emergency_contacts())
        return show_form(values, notice=wait_notice(), status=400)
    collected = form.answers()
    with intake().db.session() as session:
        public = current_intake_key(session).public_key
    try:
        sealed_files = _sealed_files(form.files.data, form.keep_original.data, public)
    except TooLarge as exc:
        return show_form(values, notice=too_large_notice(exc.what), status=413)
    envelope = seal(public, Purpose.REPORT, answers.report_json(collected, g.lang))
    with intake().blobs.undo_on_error():  # a full disk half way through leaves no orphan chunk
        receipt = intake().file_report(
            envelope=envelope,
            sealed_in=SealedIn.SERVER,
            urgent=answers.is_urgent(collected),
            nonce=form.nonce.data,
            whole=sealed_files,
        )
    return render_template("receipt.html", receipt=receipt, contacts=emergency_contacts())


@bp.get("/safety")
def safety():  # type: ignore[no-untyped-def]
    return render_template("safety.html")


@bp.get("/status")
def status_lookup():  # type: ignore[no-untyped-def]
    return render_template("status_lookup.html", csrf_token=csrf.token(), **challenges())


def _no_match(token_text: str) -> tuple[str, int]:
    """The token opens no case: mistyped, or its reply channel deleted (perhaps a moment ago)."""
    return _lookup_failed(
        _("No report matches this token. Please check it, or it may have been deleted."), 404, token_text
    )


def _lookup_failed(message: str, code: int = 400, token_text: str = "") -> tuple[str, int]:
    page = render_template(
        "status_lookup.html", csrf_token=csrf.token(), **challenges(), error=message, typed=token_text
    )
    return page, code


def _status_page(case_id: str, reporter: KeyPair, token_text: str, notice: str = "", message: str = "") -> str:
    with intake().db.session() as session:
        case = session.get_one(Case, case_id)
        view = conversation.view(session, case, reporter)
        key = current_intake_key(session)
        return render_template(
            "status.html",
            view=view,
            token=token_text,
            notice=notice,
            message=message,
            csrf_token=csrf.token(),
            **challenges(),
            refresh_challenge=pow_().challenge(Path.FORM),
            refresh_js_challenge=pow_().challenge(Path.JS),
            intake_public_key=base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode(),
            reporter_public_key=base64.urlsafe_b64encode(reporter.public).rstrip(b"=").decode(),
            case_context=conversation.context(case).decode(),
            max_file_mb=intake().settings.max_file_bytes // (1024 * 1024),
        )


def _paid_token(form: TokenForm) -> Opened | Refused:
    """What open_with_token returns, for a token form that must pass validation and pay first."""
    if not (form.validate() and paid(form) is Payment.PAID):
        return Refused(_lookup_failed(wait_notice(), token_text=form.token.data or ""))
    return open_with_token(form.token.data or "")


def open_with_token(token_text: str) -> Opened | Refused:
    """The case a token opens, or the reporter's answer explaining why it does not."""
    try:
        case_id, reporter = intake().open_case(token_text)
    except TokenTypo:
        return Refused(_lookup_failed(_("This number has a typo. Please check each digit."), token_text=token_text))
    except TokenError:
        return Refused(_lookup_failed(_("A token has 20 digits, in five groups of four."), token_text=token_text))
    except NotFound:
        return Refused(_no_match(token_text))
    except Busy:
        page, _code = _lookup_failed(busy_notice(), token_text=token_text)
        return Refused((page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}))
    return Opened(case_id, reporter, token_text)


@bp.post("/status")
def status():  # type: ignore[no-untyped-def]
    opened = _paid_token(TokenForm(posted()))
    if isinstance(opened, Refused):
        return opened.response
    return _status_page(opened.case_id, opened.reporter, opened.token)


@bp.post("/status/message")
@bodies.limit(form_body_limit)
def follow_up():  # type: ignore[no-untyped-def]
    """No-JavaScript follow-up: sealed by the server, like the report."""
    form = FollowUpForm(posted())
    opened = _paid_token(form)
    if isinstance(opened, Refused):
        return opened.response
    case_id, reporter, token_text = opened.case_id, opened.reporter, opened.token
    text = form.message.data or ""
    with intake().db.session() as session:
        public = current_intake_key(session).public_key
    try:
        sealed_files = _sealed_files(form.files.data, form.keep_original.data, public)
    except TooLarge as exc:
        return _status_page(case_id, reporter, token_text, too_large_notice(exc.what))
    except Busy:
        page = _status_page(case_id, reporter, token_text, busy_notice())
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if not text and not sealed_files:
        return _status_page(case_id, reporter, token_text, _("Write a message or choose a file to send."))
    with intake().db.session() as session:
        case = session.get_one(Case, case_id)
        team, mine = conversation.seal_follow_up(session, case, text or _("(files only)"))
    try:
        with intake().blobs.undo_on_error():
            intake().follow_up(case_id, team=team, mine=mine, whole=sealed_files)
    except NotFound:  # the channel was deleted since the token opened the case
        return _no_match(token_text)
    except (StorageFull, DBAPIError) as exc:
        if not is_storage_full(exc):
            raise
        page = _status_page(case_id, reporter, token_text, storage_full_notice(), message=text)
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _status_page(case_id, reporter, token_text, _("Your message was sent."))


@bp.post("/status/delete")
def delete_channel():  # type: ignore[no-untyped-def]
    form = DeleteForm(posted())
    opened = _paid_token(form)
    if isinstance(opened, Refused):
        return opened.response
    case_id, reporter, token_text = opened.case_id, opened.reporter, opened.token
    if not form.confirm.data:
        return _status_page(case_id, reporter, token_text, _("Tick the box to confirm that you want to delete this."))
    try:
        intake().delete_channel(case_id)
    except NotFound:  # deleted a moment ago, by another request with the same token
        return _no_match(token_text)
    return render_template("deleted.html")
