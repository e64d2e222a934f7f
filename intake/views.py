"""The reporter's pages. Every one works without JavaScript; app.js only improves them.

Nothing a reporter types is ever in a URL (so it cannot reach history or a log): tokens and
reports travel only in POST bodies, and every page is served no-store.
"""

from __future__ import annotations

import base64
import secrets

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import MultiDict

from cases import conversation
from cases.blobs import StorageFull, is_storage_full
from cases.intake_keys import current as current_intake_key
from cases.models import Case, SealedIn
from cases.questionnaire import DANGER, SECTIONS
from crypto.envelope import Purpose, seal
from crypto.errors import TokenError, TokenTypo
from crypto.keys import KeyPair
from crypto.stream import seal_file

from . import answers, csrf
from .filing import Intake, NotFound, TooLarge
from .i18n import LANGUAGES
from .limits import RETRY_AFTER_SECONDS, Busy
from .metadata import strip_metadata
from .pow import PowError, ProofOfWork

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
        "challenge": pow_().challenge(),
        "nonce": (values or MultiDict()).get("nonce") or secrets.token_urlsafe(18),
        "max_file_mb": limits.max_file_bytes // (1024 * 1024),
        "max_total_mb": limits.max_total_bytes // (1024 * 1024),
        "max_files": limits.max_files,
    }


def show_form(
    values: MultiDict | None = None, errors: dict[str, str] | None = None, notice: str = "", status: int = 200
):  # type: ignore[no-untyped-def]
    return render_template("form.html", **_form_context(values, errors, notice)), status


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


def check_csrf(form) -> str | None:  # type: ignore[no-untyped-def]
    if not csrf.valid(form.get("csrf")):
        return _("This page was open too long or came from somewhere else. Please check your answers and send again.")
    return None


def check_request(form) -> str | None:  # type: ignore[no-untyped-def]
    """CSRF and proof-of-work; returns a plain notice for the reporter, or None if fine."""
    notice = check_csrf(form)
    if notice:
        return notice
    try:
        pow_().verify(form.get("challenge", ""), form.get("solution") or None)
    except PowError:
        return _("Please wait a few seconds and send again. Nothing was lost.")
    return None


def _read_files(form_files, keep_original: bool) -> list[tuple[str, str, bytes]]:  # type: ignore[no-untyped-def]
    files = []
    for storage in form_files:
        if not storage or not storage.filename:
            continue
        data = storage.stream.read()
        content_type = storage.mimetype or "application/octet-stream"
        if not keep_original:
            data, _removed = strip_metadata(data, content_type)
        files.append((storage.filename, content_type, data))
    return files


@bp.get("/")
def form():  # type: ignore[no-untyped-def]
    return show_form()


@bp.post("/report")
def submit():  # type: ignore[no-untyped-def]
    """The no-JavaScript path: seal in memory, store only ciphertext, show the receipt."""
    values = request.form
    notice = check_csrf(values)
    if notice:
        return show_form(values, notice=notice, status=400)
    # A resent request (double tap, reload, network retry) shows the first receipt again.
    repeat = intake().repeat(values.get("nonce", "")) if values.get("nonce") else None
    if repeat is not None:
        return render_template("receipt.html", receipt=repeat, contacts=emergency_contacts())
    notice = check_request(values)
    if notice:
        return show_form(values, notice=notice, status=400)
    collected = answers.collect(values)
    errors = answers.problems(collected)
    if errors:
        return show_form(values, errors, _("Please look at the marked question."), status=400)
    files = _read_files(request.files.getlist("files"), keep_original=values.get("keep_original") == "1")
    try:
        intake().check_sizes([len(data) for _n, _t, data in files])
    except TooLarge as exc:
        return show_form(values, notice=too_large_notice(exc.what), status=413)
    with intake().db.session() as session:
        public = current_intake_key(session).public_key
    envelope = seal(public, Purpose.REPORT, answers.report_json(collected, g.lang))
    sealed_files = [seal_file(public, data, name, content_type) for name, content_type, data in files]
    del files
    try:
        with intake().blobs.undo_on_error():  # a full disk half way through leaves no orphan chunk
            receipt = intake().file_report(
                envelope=envelope,
                sealed_in=SealedIn.SERVER,
                urgent=answers.is_urgent(collected),
                nonce=values.get("nonce", "") or secrets.token_urlsafe(18),
                whole=sealed_files,
            )
    except Busy:
        return *show_form(values, notice=busy_notice(), status=503), {"Retry-After": str(RETRY_AFTER_SECONDS)}
    except (StorageFull, DBAPIError) as exc:
        if not is_storage_full(exc):
            raise
        return *show_form(values, notice=storage_full_notice(), status=503), {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return render_template("receipt.html", receipt=receipt, contacts=emergency_contacts())


@bp.get("/safety")
def safety():  # type: ignore[no-untyped-def]
    return render_template("safety.html")


@bp.get("/status")
def status_lookup():  # type: ignore[no-untyped-def]
    return render_template("status_lookup.html", csrf_token=csrf.token(), challenge=pow_().challenge())


def _lookup_failed(message: str, code: int = 400, token_text: str = ""):  # type: ignore[no-untyped-def]
    page = render_template(
        "status_lookup.html", csrf_token=csrf.token(), challenge=pow_().challenge(), error=message, typed=token_text
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
            challenge=pow_().challenge(),
            refresh_challenge=pow_().challenge(),
            intake_public_key=base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode(),
            reporter_public_key=base64.urlsafe_b64encode(reporter.public).rstrip(b"=").decode(),
            case_context=conversation.context(case).decode(),
            max_file_mb=intake().settings.max_file_bytes // (1024 * 1024),
        )


def open_with_token(form, checked: bool = False):  # type: ignore[no-untyped-def]
    """(case_id, reporter key, token) or an error response for the reporter."""
    token_text = form.get("token", "")
    notice = None if checked else check_request(form)
    if notice:
        return None, _lookup_failed(notice, token_text=token_text)
    try:
        case_id, reporter = intake().open_case(token_text)
    except TokenTypo:
        return None, _lookup_failed(_("This number has a typo. Please check each digit."), token_text=token_text)
    except TokenError:
        return None, _lookup_failed(_("A token has 20 digits, in five groups of four."), token_text=token_text)
    except NotFound:
        return None, _lookup_failed(
            _("No report matches this token. Please check it, or it may have been deleted."), 404, token_text
        )
    except Busy:
        page, _code = _lookup_failed(busy_notice(), token_text=token_text)
        return None, (page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return (case_id, reporter, token_text), None


@bp.post("/status")
def status():  # type: ignore[no-untyped-def]
    opened, failure = open_with_token(request.form)
    if failure:
        return failure
    return _status_page(*opened)


@bp.post("/status/message")
def follow_up():  # type: ignore[no-untyped-def]
    """No-JavaScript follow-up: sealed by the server in memory, like the report."""
    opened, failure = open_with_token(request.form)
    if failure:
        return failure
    case_id, reporter, token_text = opened
    text = request.form.get("message", "").replace("\r\n", "\n").strip()
    files = _read_files(request.files.getlist("files"), keep_original=request.form.get("keep_original") == "1")
    if not text and not files:
        return _status_page(case_id, reporter, token_text, _("Write a message or choose a file to send."))
    try:
        intake().check_sizes([len(data) for _n, _t, data in files])
    except TooLarge as exc:
        return _status_page(case_id, reporter, token_text, too_large_notice(exc.what))
    with intake().db.session() as session:
        case = session.get_one(Case, case_id)
        team, mine = conversation.seal_follow_up(session, case, text or _("(files only)"))
        public = current_intake_key(session).public_key
    sealed_files = [seal_file(public, data, name, content_type) for name, content_type, data in files]
    try:
        with intake().blobs.undo_on_error():
            intake().follow_up(case_id, team=team, mine=mine, whole=sealed_files)
    except (StorageFull, DBAPIError) as exc:
        if not is_storage_full(exc):
            raise
        page = _status_page(case_id, reporter, token_text, storage_full_notice(), message=text)
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _status_page(case_id, reporter, token_text, _("Your message was sent."))


@bp.post("/status/delete")
def delete_channel():  # type: ignore[no-untyped-def]
    opened, failure = open_with_token(request.form)
    if failure:
        return failure
    case_id, reporter, token_text = opened
    if request.form.get("confirm") != "1":
        return _status_page(case_id, reporter, token_text, _("Tick the box to confirm that you want to delete this."))
    with intake().db.session() as session:
        conversation.delete_channel(session, session.get_one(Case, case_id))
    return render_template("deleted.html")
