"""Reporter tokens: derivation with the installation's own, fixed argon2id parameters, and the
helpers the apps need to show them and explain a mistyped one.

The parameters are recorded once, at ``init``, in the settings table: changing the server's
configured cost later must never silently orphan every token already handed out.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crypto import token
from crypto.errors import TokenError, TokenTypo
from crypto.kdf import Argon2Params

from . import errors
from .models import Setting

TOKEN_ARGON2 = "token_argon2"  # noqa: S105 - a settings key, not a secret
TokenSecrets = token.TokenSecrets
format_token = token.format_token  # five groups of four digits, as shown and printed
generate = token.generate


class NotInitialised(Exception):
    pass


class Malformed(errors.Invalid):
    """Not a token: a character that is not a digit, or not 20 digits."""


class Mistyped(Malformed):
    """Twenty digits whose check digit does not match: a typo."""


def record_params(session: Session, params: Argon2Params) -> None:
    session.add(Setting(key=TOKEN_ARGON2, value=params.check().encode()))


def kdf_params(session: Session) -> Argon2Params:
    setting = session.get(Setting, TOKEN_ARGON2)
    if setting is None:
        raise NotInitialised("token parameters are not recorded: run 'reprisals init'")
    return Argon2Params.decode(setting.value)


def derive(session: Session, token_text: str, pepper: bytes) -> token.TokenSecrets:
    """Raises crypto.errors.TokenError for a malformed or mistyped token."""
    return token.derive(token_text, pepper, kdf_params(session))


def stretch(token_text: str, pepper: bytes, params: Argon2Params) -> token.TokenSecrets:
    """What a presented token derives to; raises Mistyped or Malformed for what a person typed."""
    try:
        return token.derive(token_text, pepper, params)
    except TokenTypo as exc:
        raise Mistyped(str(exc)) from exc
    except TokenError as exc:
        raise Malformed(str(exc)) from exc
