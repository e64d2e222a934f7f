"""The intake's HTML forms as WTForms classes: every field typed and bounded at the boundary.

The report form is built from the questionnaire (cases.questionnaire), so the questions, their
choices and their length limits are defined once. CSRF is checked for every POST by Flask-WTF's
CSRFProtect (intake.csrf), so these forms do not carry a CSRF field of their own. Templates
stay hand-written HTML (the page weight budget); the forms parse and validate what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import (
    BooleanField,
    Field,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from cases.proof_of_work import MAX_SOLUTION_DIGITS
from cases.questionnaire import DETAILS, QUICK, Question

from .csrf import unmask_token
from .i18n import lazy_gettext as _  # module-level messages: translated when shown

MAX_MESSAGE = 100_000
REQUIRED = _("Please tell us what happened. It is the only question you must answer.")
BAD_CHOICE = _("Please choose one of the answers shown.")
TOO_LONG = _(
    "This answer is too long: %(length)d characters, at most %(limit)d. You can send the rest as a follow-up message."
)


def _text(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").strip()


def _at_most(limit: int) -> Callable[[FlaskForm, Field], None]:
    def check(_form: FlaskForm, field: Field) -> None:
        if len(field.data or "") > limit:
            raise ValidationError(TOO_LONG % {"length": len(field.data), "limit": limit})

    return check


def posted() -> CombinedMultiDict[str, Any]:
    """The posted form fields and files; never a JSON body (FlaskForm would parse that unbounded)."""
    return CombinedMultiDict([request.files, request.form])


class PaidForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type information
    """Every intake POST pays with proof-of-work (cases.proof_of_work): a challenge, solved or aged."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST before any view runs

    challenge = StringField(validators=[Length(max=128)])
    solution = StringField(validators=[Optional(), Length(max=MAX_SOLUTION_DIGITS), Regexp(r"^[0-9]+\Z")])


def _question_field(question: Question) -> Field:
    choices = [SelectChoice(c.value) for c in question.choices]
    if question.kind == "one":
        return RadioField(choices=choices, validators=[Optional()], validate_choice=False)
    if question.kind == "many":
        return SelectMultipleField(choices=choices, validate_choice=False)
    if question.kind == "country":  # a <select> of codes, checked in ReportFields.validate
        return StringField(filters=[_text])
    checks: list[Any] = [_at_most(question.max_length)]
    if question.required:
        checks.insert(0, DataRequired(REQUIRED))
    return StringField(filters=[_text], validators=checks)


class ReportFields(PaidForm):
    # Every form page carries one; a guessable nonce would open someone else's receipt box.
    nonce = StringField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{22,64}\Z")])
    keep_original = BooleanField(false_values=("", "0"))
    files = MultipleFileField()

    def validate(self, extra_validators: Any = None) -> bool:
        ok = bool(super().validate(extra_validators))
        return _choices_ok(self, QUICK) and ok

    def answers(self) -> dict[str, str | list[str]]:
        """The non-empty answers, in the layout app.js builds too (docs/protocol.md, "Report")."""
        return _answers(self, QUICK)

    def problems(self) -> dict[str, str]:
        return _problems(self)


def _choices_ok(form: FlaskForm, questions: dict[str, Question]) -> bool:
    """Choices are checked here with a plain message, not WTForms' own English one."""
    ok = True
    for name, question in questions.items():
        if question.kind not in ("one", "many", "country"):
            continue
        field = form[name]
        chosen = field.data if isinstance(field.data, list) else [field.data] if field.data else []
        if any(value not in question.values() for value in chosen):
            field.errors = [*field.errors, BAD_CHOICE]
            ok = False
    return ok


def _answers(form: FlaskForm, questions: dict[str, Question]) -> dict[str, str | list[str]]:
    answers: dict[str, str | list[str]] = {}
    for name in questions:
        value = form[name].data
        if value:
            answers[name] = list(value) if isinstance(value, list) else str(value)
    return answers


def _problems(form: FlaskForm) -> dict[str, str]:
    return {name: str(field.errors[0]) for name, field in form._fields.items() if field.errors}


# One field per quick question (the report form asks only those; the rest are details added
# later, intake.details); annotate with ReportFields, which has everything the views read.
ReportForm: type[ReportFields] = type(
    "ReportForm", (ReportFields,), {name: _question_field(q) for name, q in QUICK.items()}
)


def _unmasked(value: str | None) -> str | None:
    """The token posted back from a page's hidden field is masked (intake.csrf.mask_token); a
    typed one is taken as it is. A mask tampered with leaves no token ("", refused as not one)."""
    if value is None:
        return None
    secret = unmask_token(value)
    return "" if secret is None else secret


class TokenForm(PaidForm):
    token = StringField(filters=[_unmasked], validators=[Length(max=64)])

    def kept(self) -> str:
        """What the reporter typed besides the token, to give back if it could not be sent."""
        return ""


class FollowUpForm(TokenForm):
    message = StringField(filters=[_text], validators=[_at_most(MAX_MESSAGE)])
    keep_original = BooleanField(false_values=("", "0"))
    files = MultipleFileField()

    def kept(self) -> str:
        return self.message.data or ""


class DetailsFields(TokenForm):
    """Details added later (intake.details): the DETAILS questions, checked by the report's rules.

    ``validate`` (run by intake.principal.reporter_page) checks the token and payment only, so
    that a bad answer is shown next to its field on the details page, not as a token problem;
    ``check`` then checks the answers.
    """

    def check(self) -> bool:
        ok = all(field.validate(self) for name, field in self._fields.items() if name in DETAILS)
        return _choices_ok(self, DETAILS) and ok

    def answers(self) -> dict[str, str | list[str]]:
        return _answers(self, DETAILS)

    def problems(self) -> dict[str, str]:
        return {name: message for name, message in _problems(self).items() if name in DETAILS}

    def validate(self, extra_validators: Any = None) -> bool:
        return all(self[name].validate(self) for name in ("token", "challenge", "solution"))


DetailsForm: type[DetailsFields] = type(
    "DetailsForm", (DetailsFields,), {name: _question_field(q) for name, q in DETAILS.items()}
)


class DeleteForm(TokenForm):
    confirm = BooleanField(false_values=("", "0"))


class ReceiptForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type information
    """Asking for a submission's receipt again: its nonce, nothing else (CSRFProtect checks)."""

    class Meta:
        csrf = False

    nonce = StringField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{22,64}\Z")])
