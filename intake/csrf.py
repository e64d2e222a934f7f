"""CSRF protection with the only cookie the intake app sets: a short-lived signed session.

The cookie holds nothing but a random CSRF value. It expires after SESSION_MINUTES and is
HttpOnly and SameSite=Strict; Secure when RRI_SECURE_COOKIES=1 (not by default: onion services
are plain HTTP, and a Secure cookie would silently break the form there).
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import secrets

from flask import session

SESSION_MINUTES = 120


def token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
        session.permanent = True
    return session["csrf"]


def valid(sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(expected, sent))


def configure(app) -> None:  # type: ignore[no-untyped-def]
    app.config.update(
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=SESSION_MINUTES),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="csrf",
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_COOKIE_SECURE=os.environ.get("RRI_SECURE_COOKIES") == "1",
    )
