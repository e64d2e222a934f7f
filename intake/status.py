"""Following a report with its token: the status page, follow-ups sent without JavaScript, and
deleting the reply channel. The token is resolved, and its refusals answered, by
``intake.principal.reporter_page``."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from cases.filing import Reporter

from . import bodies, csrf
from .context import intake
from .forms import DeleteForm, FollowUpForm, TokenForm
from .i18n import gettext as _
from .pages import bp, challenges, form_body_limit, status_page
from .principal import reporter_page
from .sealed_request import sealed_files


@bp.get("/status")
def status_lookup() -> ResponseReturnValue:
    return render_template("status_lookup.html", csrf_token=csrf.token(), **challenges(), contacts=intake().contacts)


@bp.post("/status")
@reporter_page(TokenForm)
def status(_form: TokenForm, reporter: Reporter) -> ResponseReturnValue:
    return status_page(reporter)


@bp.post("/status/message")
@bodies.limit(form_body_limit)
@reporter_page(FollowUpForm)
def follow_up(form: FollowUpForm, reporter: Reporter) -> ResponseReturnValue:
    """No-JavaScript follow-up: sealed by the server, like the report."""
    filing = intake().filing
    text = form.message.data or ""
    files = sealed_files(form.files.data, form.keep_original.data, filing.intake_key().public_key)
    if not text and not files:
        return status_page(reporter, errors={"message": _("Write a message or choose a file to send.")})
    team, mine = filing.seal_follow_up(reporter, text or _("(files only)"))
    with filing.blobs.undo_on_error():
        filing.follow_up(reporter, team=team, mine=mine, whole=files)
    return status_page(reporter, _("Your message was sent."))


@bp.post("/status/delete")
@reporter_page(DeleteForm)
def delete_channel(form: DeleteForm, reporter: Reporter) -> ResponseReturnValue:
    if not form.confirm.data:
        return status_page(reporter, errors={"confirm": _("Tick the box to confirm that you want to delete this.")})
    intake().filing.delete_channel(reporter)
    return render_template("deleted.html")
