"""CSRF protection by Flask-WTF, with the only cookie the intake app sets: a signed session; and
the masking of every secret a page echoes back in a hidden field.

The cookie holds nothing but Flask-WTF's random CSRF value and is a browser-session cookie (no
Expires, no Max-Age): nothing about a visit outlives the browser on the reporter's device. The
time limit lives inside the signed token instead (WTF_CSRF_TIME_LIMIT). HttpOnly and
SameSite=Strict; Secure when RRI_SECURE_COOKIES=1 (not by default: onion services are plain
HTTP, and a Secure cookie would silently break the form there). Forms send the token in the
``csrf`` field, JSON requests in the ``X-CSRFToken`` header.

Masking (docs/protocol.md §13, "Compression and BREACH"): a secret a page carries in a hidden
field (the CSRF token, the reporter's token on the status page) is sent as
``base64url(mask ‖ (secret XOR mask))`` with a fresh random mask each time, so its bytes never
repeat from one answer to the next and a compressed answer's length says nothing about it. The
server unmasks what is posted back: ``MaskingCSRFProtect`` before Flask-WTF checks the token,
``unmask_token`` for the reporter's token (intake.forms, intake.principal).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import unicodedata

from flask import Flask, g
from flask_wtf.csrf import CSRFProtect, generate_csrf

SESSION_MINUTES = 120
FIELD = "csrf"
HEADER = "X-CSRFToken"
MIN_MASKED = 8  # characters: shorter values are never ours
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+\Z")
# A masked reporter token: 20 ASCII digits and their mask, 40 bytes, 54 base64url characters.
MASKED_TOKEN_LENGTH = 54


def mask(secret: str) -> str:
    """``base64url(mask ‖ (secret XOR mask))``, unpadded, with a fresh random mask."""
    raw = secret.encode()
    pad = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(raw, pad, strict=True))).rstrip(b"=").decode()


def unmask(value: str) -> str | None:
    """The secret ``mask`` hid, or None when ``value`` is not a masked printable ASCII text."""
    if len(value) < MIN_MASKED or not _BASE64URL.match(value):
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    half = len(data) // 2
    if not data or len(data) % 2:
        return None
    secret = bytes(a ^ b for a, b in zip(data[:half], data[half:], strict=True))
    if not all(0x21 <= byte <= 0x7E for byte in secret):  # tokens are printable ASCII without spaces
        return None
    return secret.decode("ascii")


def mask_token(typed: str) -> str:
    """A reporter's token for a hidden field (one that opened a case): its ASCII digits, masked
    afresh. Typed in any script's digits, with any separators, it is those 20 digits."""
    digits = (unicodedata.decimal(ch, None) for ch in typed)
    return mask("".join(str(d) for d in digits if d is not None))


def unmask_token(value: str) -> str | None:
    """A reporter's token as posted: a masked one unmasked, a typed one (any digits, spaces,
    dashes: never 54 base64url characters with a letter) as it is. None for a masked token
    that was tampered with: it does not unmask to 20 ASCII digits."""
    if len(value) != MASKED_TOKEN_LENGTH or not _BASE64URL.match(value) or value.isdigit():
        return value
    secret = unmask(value)
    return secret if secret is not None and re.fullmatch(r"[0-9]{20}", secret) else None


def token() -> str:
    """The CSRF token for a form's hidden field or app.js's header, masked afresh at each call."""
    return mask(str(generate_csrf()))


class MaskingCSRFProtect(CSRFProtect):  # type: ignore[misc]  # Flask-WTF ships no type information
    """Flask-WTF's check, on the unmasked token. A raw token (signed, so with dots; Flask-WTF's
    own format) is checked as it is; a value that unmasks to nothing is refused like a forged one."""

    def _get_csrf_token(self) -> str | None:
        posted = super()._get_csrf_token()
        if not posted or "." in posted:
            return posted  # type: ignore[no-any-return]  # Flask-WTF's untyped helper returns str
        return unmask(posted) or posted


protect = MaskingCSRFProtect()


def passed() -> bool:
    """Whether this request passed the CSRF check (Flask-WTF marks it in ``g``)."""
    return bool(g.get("csrf_valid", False))


def configure(app: Flask, secure_cookies: bool) -> None:
    app.config.update(
        WTF_CSRF_FIELD_NAME=FIELD,
        WTF_CSRF_HEADERS=[HEADER],
        WTF_CSRF_TIME_LIMIT=SESSION_MINUTES * 60,
        # Flask-WTF's HTTPS referrer check would refuse every post: our pages send no Referer
        # (Referrer-Policy: no-referrer). SameSite=Strict does that job for this cookie.
        WTF_CSRF_SSL_STRICT=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="csrf",
        SESSION_COOKIE_SECURE=secure_cookies,
    )
    protect.init_app(app)
    # status.html masks the reporter's token in its hidden fields: {{ token|masked_token }}
    app.jinja_env.filters["masked_token"] = mask_token
