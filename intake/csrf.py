"""CSRF protection by Flask-WTF, with the only cookie the intake app sets: a signed session.

The cookie holds nothing but Flask-WTF's random CSRF value and is a browser-session cookie (no
Expires, no Max-Age): nothing about a visit outlives the browser on the reporter's device. The
time limit lives inside the signed token instead (WTF_CSRF_TIME_LIMIT). HttpOnly and
SameSite=Strict; Secure when RRI_SECURE_COOKIES=1 (not by default: onion services are plain
HTTP, and a Secure cookie would silently break the form there). Forms send the token in the
``csrf`` field, JSON requests in the ``X-CSRFToken`` header.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect, generate_csrf

SESSION_MINUTES = 120
FIELD = "csrf"
HEADER = "X-CSRFToken"

protect = CSRFProtect()


def token() -> str:
    return str(generate_csrf())


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
