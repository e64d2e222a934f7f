"""The reporter's token, resolved once per request, and every way that can fail, answered here.

A view that acts for a reporter (status page, follow-up, deletion, the message API) is
decorated with ``reporter_page`` or ``reporter_json``: the decorator parses the request, checks
its proof-of-work, opens the case with the token and hands the view a ``cases.filing.Reporter``.
Refusals (a typo, not a token, no such case, every argon2 slot busy, the channel deleted
meanwhile, files too large, a full disk) become the page or JSON answer below, the same for
every view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from cases import errors, tokens
from cases.blobs import WRITE_FAILURES, is_storage_full
from cases.filing import NotFound, Reporter
from cases.limits import Busy, TooLarge
from cases.proof_of_work import Path, Payment
from web import compress

from . import schemas
from .context import intake
from .csrf import unmask_token
from .forms import TokenForm, posted
from .notices import (
    busy_notice,
    failed_notice,
    gone_notice,
    storage_full_notice,
    token_shape_notice,
    too_large_notice,
    typo_notice,
    wait_notice,
)
from .pages import RETRY_LATER, lookup_failed, no_match, paid, status_page

F = TypeVar("F", bound=TokenForm)
B = TypeVar("B", bound=schemas.TokenBody)
View = Callable[[], ResponseReturnValue]


def reporter_page(form_class: type[F]) -> Callable[[Callable[[F, Reporter], ResponseReturnValue]], View]:
    """For a page posted with a token: the view gets the parsed form and the reporter."""

    def decorate(view: Callable[[F, Reporter], ResponseReturnValue]) -> View:
        @wraps(view)
        def resolved() -> ResponseReturnValue:
            form = form_class(posted())
            typed = form.token.data or ""
            if not (form.validate() and paid(form) is Payment.PAID):
                return lookup_failed(wait_notice(), token_text=typed)
            try:
                reporter = intake().filing.open_case(typed)
            except tokens.Mistyped:
                return lookup_failed(typo_notice(), token_text=typed)
            except tokens.Malformed:
                return lookup_failed(token_shape_notice(), token_text=typed)
            except NotFound:
                return no_match(typed)
            except Busy:
                return *lookup_failed(busy_notice(), 503, typed), RETRY_LATER
            # The token is proven and the CSRF check passed: the page, with its secrets masked,
            # may be compressed (web.compress; docs/protocol.md §13). Refusals above are not.
            compress.allow_post()
            try:
                return view(form, reporter)
            except NotFound:  # the channel was deleted since the token opened the case
                return no_match(typed)
            except TooLarge as exc:
                return status_page(reporter, too_large_notice(exc.what))
            except Busy:
                return status_page(reporter, busy_notice()), 503, RETRY_LATER
            except WRITE_FAILURES as exc:
                if not is_storage_full(exc):
                    raise
                return status_page(reporter, storage_full_notice(), message=form.kept()), 503, RETRY_LATER

        return resolved

    return decorate


def reporter_json(model: type[B]) -> Callable[[Callable[[B, Reporter], ResponseReturnValue]], View]:
    """For app.js posting a token in a JSON body: the view gets the parsed body and the reporter."""

    def decorate(view: Callable[[B, Reporter], ResponseReturnValue]) -> View:
        @wraps(view)
        def resolved() -> ResponseReturnValue:
            try:
                body = schemas.parse(model, schemas.document(request.get_data(cache=False)))
            except schemas.BadBody:
                return unsendable()
            if paid_json(body) is not Payment.PAID:
                return unpaid()
            try:
                # app.js posts the status page's masked token (intake.csrf.mask_token)
                reporter = intake().filing.open_case(unmask_token(body.token) or "")
            except (tokens.Malformed, NotFound):
                return json_failure(gone_notice(), 403)
            except Busy:  # app.js waits Retry-After and sends again: nothing is lost
                return json_failure(busy_notice(), 503, RETRY_LATER)
            try:
                return view(body, reporter)
            except NotFound:  # the channel was deleted since the token opened the case
                return json_failure(gone_notice(), 403)
            except Busy:
                return json_failure(busy_notice(), 503, RETRY_LATER)
            except TooLarge as exc:
                return json_failure(too_large_notice(exc.what), 413)
            except errors.Invalid:
                return unsendable()

        return resolved

    return decorate


def paid_json(body: schemas.Paid, nonce: str | None = None) -> Payment:
    """JSON routes accept solved challenges only: nobody can choose the cheap path there."""
    return intake().pow.pay(body.challenge, body.solution, form_allowed=False, nonce=nonce)


def json_failure(message: str, status: int, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    """app.js shows ``error`` to the reporter as it is."""
    return jsonify(error=message), status, headers or {}


def unsendable() -> ResponseReturnValue:
    return json_failure(failed_notice(), 400)


def unpaid() -> ResponseReturnValue:
    return json_failure(wait_notice(), 400, {"X-New-Challenge": intake().pow.challenge(Path.JS)})
