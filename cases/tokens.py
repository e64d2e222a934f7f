"""Reporter-token derivation with the installation's own, fixed argon2id parameters.

The parameters are recorded once, at ``init``, in the settings table: changing the server's
configured cost later must never silently orphan every token already handed out.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crypto import token
from crypto.kdf import Argon2Params

from .models import Setting

TOKEN_ARGON2 = "token_argon2"  # noqa: S105 - a settings key, not a secret


class NotInitialised(Exception):
    pass


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
