"""The login, authenticator and account forms, each field bounded before any view reads it.

CSRF is checked for every post within a staff session before the view runs (session.bind_csrf),
so these forms do not check it again. Login and enrolment happen before any session exists:
their cookies are SameSite=Strict and cross-site posts are refused (auth.refuse_cross_site).
"""

from __future__ import annotations

from typing import Any

from wtforms import Field, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from .forms import DeskForm

MAX_USERNAME = 64
MAX_PASSWORD = 1024  # longer than any real password; spares argon2 megabyte inputs
MAX_CODE = 16
MAX_NEXT = 512
MAX_EMAIL = 254


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def printable(_form: Any, field: Field) -> None:
    """No control characters (a NUL is refused by PostgreSQL; none belongs in a name or code)."""
    if isinstance(field.data, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in field.data):
        raise ValidationError("Control characters are not allowed.")


def email_address(_form: Any, field: Field) -> None:
    """Looks like one address: something@domain.tld, nothing that could split a mail header."""
    local, at, domain = str(field.data).partition("@")
    if not (at and local and "." in domain) or any(ch.isspace() or ch in "<>,;\"'" for ch in str(field.data)):
        raise ValidationError("That e-mail address does not look right.")


class _Form(DeskForm):
    """Bounds only (see the module docstring); reads the posted form, never a JSON body."""


class LoginForm(_Form):
    username = StringField(filters=[_strip], validators=[InputRequired(), Length(max=MAX_USERNAME), printable])
    password = PasswordField(validators=[InputRequired(), Length(max=MAX_PASSWORD)])
    code = StringField(validators=[Optional(), Length(max=MAX_CODE), printable])
    next = HiddenField(validators=[Optional(), Length(max=MAX_NEXT)])


class CodeForm(_Form):
    code = StringField(validators=[InputRequired(), Length(max=MAX_CODE), printable])


class PasswordChangeForm(_Form):
    current = PasswordField(validators=[InputRequired(), Length(max=MAX_PASSWORD)])
    new = PasswordField(validators=[InputRequired(), Length(max=MAX_PASSWORD, message="That password is too long.")])
    again = PasswordField(validators=[InputRequired(), Length(max=MAX_PASSWORD)])


class PreferencesForm(_Form):
    language = SelectField(validate_choice=True)
    email = StringField(
        filters=[_strip],
        validators=[Optional(), Length(max=MAX_EMAIL), printable, email_address],
    )
