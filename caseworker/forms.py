"""The desk's forms: every field a caseworker's browser sends, bounded before a view reads it.

Each view builds one of these from the request and acts only on ``.data`` after ``validate()``;
a field that is too long, not one of the offered choices or a number outside its range is a 400
with a plain message, never an exception further in. The templates write their own HTML (the
hidden ``csrf`` input included), so these classes parse and check; they render nothing.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    AnyOf,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from cases import countries, triage
from cases.models import Role, Status
from cases.questionnaire import QUESTIONS

MAX_REPLY = 20_000
MAX_NOTE = 20_000
MAX_PASSWORD = 1_024
MAX_USERNAME = 64
MAX_FILTER = 100
# Row ids are PostgreSQL INTEGER (32-bit signed): a larger number is no row, not a crash.
MAX_ROW_ID = 2**31 - 1


def _text(value: object) -> object:
    """Trimmed, with browser line ends (CRLF) made LF, so limits count what is stored."""
    return value.strip().replace("\r\n", "\n") if isinstance(value, str) else value


def _printable(form: Any, field: Any) -> None:
    # A NUL byte or another control character is no one's name (and PostgreSQL refuses NUL).
    if isinstance(field.data, str) and not field.data.isprintable():
        raise ValidationError("use letters, digits and punctuation only")


def _ascii_id(form: Any, field: Any) -> None:
    # int() also reads "١٢", " 12" and "1_000": only ASCII digits are ids.
    raw = field.raw_data[0] if field.raw_data else ""
    if raw and not (raw.isascii() and raw.isdigit()):
        raise ValidationError("not a number")


class DeskForm(FlaskForm):  # type: ignore[misc]  # flask_wtf is untyped: its classes are Any
    """Parsing and bounds only: CSRF is checked for the whole app (the ``csrf`` field)."""

    class Meta(FlaskForm.Meta):  # type: ignore[misc]  # as above
        csrf = False

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            # The posted form only: flask_wtf would otherwise parse a JSON body, without bounds.
            if formdata is None or hasattr(formdata, "getlist"):
                return formdata
            return request.form if request.method == "POST" else None

    def problem(self) -> str:
        """The first error as a plain sentence for the person who sent the form."""
        for field in self:
            for error in field.errors:
                label = field.label.text
                return f"{label}: {error}" if label else str(error)
        return "the form is not valid"


# --- a case --------------------------------------------------------------------------------------


class ReplyForm(DeskForm):
    text = StringField("The reply", [InputRequired(), Length(min=1, max=MAX_REPLY)], filters=[_text])


class NoteForm(DeskForm):
    text = StringField("The note", [InputRequired(), Length(min=1, max=MAX_NOTE)], filters=[_text])


class StatusForm(DeskForm):
    status = SelectField("Stage", choices=[s.value for s in Status], validate_choice=True)
    explanation = StringField("The explanation", [Length(max=MAX_REPLY)], filters=[_text], default="")


class AssignForm(DeskForm):
    to = IntegerField("Assign to", [Optional(), _ascii_id, NumberRange(min=1, max=MAX_ROW_ID)])


# A list choice: an ISO 3166-1 code, "other" (a place written out) or nothing.
_COUNTRY = AnyOf(("", countries.OTHER, *countries.CODES), "not one of the choices")


class TriageForm(DeskForm):
    urgent = BooleanField("Urgent", false_values=("", "0", "false"))
    verification = StringField("Verification", [AnyOf(("", *triage.VERIFICATION))], default="")
    act_types = SelectMultipleField("Kind of reprisal", choices=triage.choices("act_types"))
    perpetrator = SelectMultipleField("Perpetrator", choices=triage.choices("perpetrator"))
    un_link = SelectMultipleField("UN mechanism", choices=triage.choices("un_link"))
    country = StringField(
        "Country",
        [AnyOf(("", countries.OTHER, *countries.CODES), "not one of the choices")],
        filters=[_text],
        default="",
    )
    country_other = StringField(
        "Country not in the list", [Length(max=triage.MAX_COUNTRY)], filters=[_text], default=""
    )


class ReferralForm(DeskForm):
    to = StringField("Referred to", [Length(max=triage.MAX_REFERRAL_TO)], filters=[_text], default="")
    on = StringField("Date", [Length(max=10)], filters=[_text], default="")
    outcome = StringField("The outcome", [Length(max=triage.MAX_OUTCOME)], filters=[_text], default="")
    authorities = BooleanField("To the authorities", false_values=("", "0", "false"))


class OutcomeForm(DeskForm):
    outcome = StringField("The outcome", [Length(max=triage.MAX_OUTCOME)], filters=[_text], default="")


# --- people --------------------------------------------------------------------------------------


class AddPersonForm(DeskForm):
    username = StringField("User name", [InputRequired(), Length(min=1, max=MAX_USERNAME), _printable], filters=[_text])
    password = StringField("Password", [Length(max=MAX_PASSWORD)], default="")
    role = SelectField("Role", choices=[r.value for r in Role])
    grant = BooleanField("Give them my intake keys", false_values=("", "0", "false"))


# --- the inbox filters (GET) ---------------------------------------------------------------------


def _vocabulary(name: str) -> list[str]:
    return ["", *(c.value for c in QUESTIONS[name].choices)]


class InboxFilterForm(DeskForm):
    status = SelectField("Stage", choices=["", *(s.value for s in Status)], default="")
    urgent = SelectField("Urgency", choices=["", "yes", "no"], default="")
    act = StringField("Kind of reprisal", [Length(max=MAX_FILTER)], default="")
    # A code, or "other" for the places written out; anything else is not one of the choices.
    country = StringField(
        "Country",
        [AnyOf(("", countries.OTHER, *countries.CODES), "not one of the choices")],
        filters=[_text],
        default="",
    )
    un = StringField("UN mechanism", [Length(max=MAX_FILTER)], default="")
    assignee = StringField("Assigned to", [Length(max=10)], default="")  # "", me, nobody or an id
    unread = SelectField("Unread", choices=["", "yes"], default="")
    page = IntegerField("Page", [Optional(), _ascii_id, NumberRange(min=1, max=MAX_ROW_ID)])

    def validate_assignee(self, field: StringField) -> None:
        value = field.data
        if value in ("", "me", "nobody"):
            return
        if not (len(value) <= 10 and value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ROW_ID):
            raise ValidationError("not one of the choices")
