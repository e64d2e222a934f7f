"""The staff session in the web app: its cookie, ``g.user``/``g.keyring``/``g.sid``, the CSRF token
bound to it, and ``require``, the one place a view's principal is resolved and refused.

The rows and the unlocked keys are the domain's (cases/staff_sessions.py); this module only
turns a request's cookie and host name into a session id and back into a cookie.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import weakref
from collections.abc import Callable
from typing import ParamSpec

from flask import Flask, Request, Response, abort, current_app, g, redirect, request, url_for
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from cases import audit, staff_sessions
from cases.config import host_name
from cases.keyring import Keyring
from cases.models import Caseworker, Role
from cases.staff_sessions import KeyVault

from .context import desk

COOKIE = "desk_session"
SWEEP_SECONDS = 60
CSRF_FIELD = "csrf"
STAFF = (Role.ADMIN, Role.CASEWORKER)  # roles that may open cases

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


def vault() -> KeyVault:
    return desk().vault


def session_id(cookie: str, host: str | None = None) -> str:
    """The session id of ``cookie`` on this request's host name (or ``host``)."""
    return staff_sessions.session_id(cookie, request.host if host is None else host)


def start(worker: Caseworker, ring: Keyring) -> str:
    """Open a session; returns the cookie value to set (``set_cookie``)."""
    cookie = staff_sessions.new_cookie()
    staff_sessions.start(desk().db, vault(), worker, ring, session_id(cookie))
    return cookie


def set_cookie(response: BaseResponse, cookie: str) -> None:
    # No Max-Age or Expires: the cookie dies with the browser; the server enforces the timeouts.
    secure = desk().settings.secure_cookies
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", secure=secure, path="/")


def delete_cookie(response: BaseResponse) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")


def load() -> None:
    """before_request: set g.user, g.keyring and g.sid, or leave them None."""
    g.user = g.keyring = g.sid = None
    cookie = request.cookies.get(COOKIE)
    if not cookie or len(cookie) > staff_sessions.MAX_COOKIE:
        return
    staff = staff_sessions.load(desk().db, vault(), session_id(cookie))
    if staff is not None:
        g.user, g.keyring, g.sid = staff.worker, staff.ring, staff.sid


def logged_in() -> Caseworker | None:
    """The account this request's session belongs to, if any."""
    worker: Caseworker | None = g.get("user")
    return worker


def user() -> Caseworker:
    """The logged-in account (only behind ``require``)."""
    worker = logged_in()
    if worker is None:
        raise RuntimeError("no staff session: the view lacks @require")
    return worker


def keyring() -> Keyring:
    """The logged-in account's unlocked keys (only behind ``require``)."""
    ring: Keyring | None = g.get("keyring")
    if ring is None:
        raise RuntimeError("no staff session: the view lacks @require")
    return ring


def reload_keyring() -> None:
    """After a grant or a rotation replaced this session's keyring in the vault."""
    if g.get("sid"):
        g.keyring = vault().get(g.sid) or g.keyring


def end() -> None:
    if g.get("sid"):
        staff_sessions.end(desk().db, vault(), g.sid)
    g.user = g.keyring = g.sid = None


def end_all_for(caseworker_id: int) -> None:
    """When an account is disabled or its password changes elsewhere."""
    staff_sessions.end_all_for(desk().db, vault(), caseworker_id)


def replace_all(worker: Caseworker, ring: Keyring) -> str:
    """Every session of the account ends, this one included, and a fresh one with the same keys
    takes this one's place: whoever held an old session cookie (another device, a thief) is out.
    Returns the new cookie; the CSRF token is bound to the new session from here on."""
    survivor = Keyring(owner=ring.owner, intake=dict(ring.intake))
    end_all_for(worker.id)
    g.sid = None
    cookie = start(worker, survivor)
    g.sid, g.keyring = session_id(cookie), survivor
    rebind_csrf()
    return cookie


def start_sweeper(app: Flask, every: float = SWEEP_SECONDS) -> threading.Event:
    """Forget the keys and rows of expired sessions every ``every`` seconds until the returned
    event is set, so keys of abandoned sessions leave memory even if nobody comes back. The
    thread holds the app only weakly: a discarded app takes it along."""
    stop = threading.Event()
    ref = weakref.ref(app)

    def run() -> None:
        while not stop.wait(every):
            alive = ref()
            if alive is None:
                return
            with alive.app_context():
                staff_sessions.sweep(desk().db, vault())
            del alive

    threading.Thread(target=run, name="desk-session-sweeper", daemon=True).start()
    return stop


def check_host() -> None:
    """The desk answers only on its own host name (RRI_DESK_HOST), never one shared with the
    intake: 421 for anything else, before any cookie is read."""
    expected = desk().settings.desk_host
    if expected and host_name(request.host) != expected:
        abort(421)


def require(*roles: Role) -> Callable[[View[P]], View[P]]:
    """Login required (else to the login page); with roles, only those roles (others get 403,
    which is audited)."""

    def decorate(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            worker = logged_in()
            if worker is None:
                return redirect(url_for("auth.login", next=request.path))
            if roles and worker.role not in roles:
                with desk().db.session() as session:
                    audit.record(session, "access.denied", actor_id=worker.id, detail=request.path[:200])
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


# --- CSRF: Flask-WTF's tokens, bound to the staff session --------------------------------------


class RequestOnlySession(SessionInterface):
    """Flask's session, which Flask-WTF keeps its CSRF secret in, lives for one request only and
    is never sent as a cookie: ``bind_csrf`` fills it from the staff session instead."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession:
        return SecureCookieSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def install_csrf(app: Flask) -> CSRFProtect:
    app.session_interface = RequestOnlySession()
    app.config.update(
        WTF_CSRF_FIELD_NAME=CSRF_FIELD,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in before_request, once the staff session is known
        WTF_CSRF_TIME_LIMIT=None,  # the staff session's own timeouts bound it
        WTF_CSRF_SSL_STRICT=False,  # the desk sends no Referer (Referrer-Policy: no-referrer)
    )
    protect: CSRFProtect = CSRFProtect(app)
    return protect


def rebind_csrf() -> None:
    """Key the token to the current session id (also after a password change replaced it)."""
    flask_session.pop(CSRF_FIELD, None)
    g.pop(CSRF_FIELD, None)  # Flask-WTF caches the signed token for the request here
    if g.get("sid"):
        key = current_app.config["SECRET_KEY"]
        flask_session[CSRF_FIELD] = hmac.new(key, f"csrf\0{g.sid}".encode(), hashlib.sha256).hexdigest()


def bind_csrf(protect: CSRFProtect) -> None:
    """before_request, after ``load``: the token's secret is an HMAC of the session id, so a form
    from another session (or site) does not validate; every post within a session must carry it
    (a missing, foreign or malformed one gets 400)."""
    rebind_csrf()
    if g.get("sid"):
        protect.protect()
