"""Caseworker desk: people and keys (admins only).

Admins add accounts, grant them the intake keys from their own unlocked session, disable and
re-enable accounts, reset a lost authenticator and rotate the intake key. A disabled person
still holds wraps of every intake key they were given, which a copy of the database would let
them use; rotating the intake key is what keeps them out of reports that arrive afterwards (it
cannot take back what they could already read).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Blueprint, abort, g, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases import audit, installation, keyring
from cases.intake_keys import current
from cases.keyring import Keyring
from cases.models import Caseworker, IntakeKey, Role, StaffSession, WrappedKey
from cases.passwords import WeakPassword
from crypto import keywrap
from crypto.keys import fingerprint

from . import forms
from . import session as staff_session
from .context import desk

bp = Blueprint("admin", __name__, url_prefix="/admin")

# No look-alikes (0/o, 1/l/i), so a password read aloud or copied from paper comes out right.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password() -> str:
    """Five groups of five (about 123 bits): shown once to the admin, to hand over in person."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(5))
    return "-".join(groups)


@dataclass(frozen=True)
class Person:
    worker: Caseworker
    keys_held: int
    has_current: bool


def _people(session: Session, current_id: str) -> list[Person]:
    held: dict[str, set[str]] = {}
    for recipient, intake_id in session.execute(select(WrappedKey.recipient_key_id, WrappedKey.intake_key_id)):
        held.setdefault(recipient, set()).add(intake_id)
    workers = session.scalars(select(Caseworker).order_by(Caseworker.username))
    return [Person(w, len(held.get(w.key_id, ())), current_id in held.get(w.key_id, set())) for w in workers]


def _intake_keys(session: Session) -> list[dict]:
    holders = dict(
        session.execute(
            select(WrappedKey.intake_key_id, func.count())
            .where(WrappedKey.caseworker_id.is_not(None))
            .group_by(WrappedKey.intake_key_id)
        ).all()
    )
    keys = session.scalars(select(IntakeKey).order_by(IntakeKey.created_on.desc(), IntakeKey.id))
    return [{"key": k, "fingerprint": fingerprint(k.public_key), "holders": holders.get(k.id, 0)} for k in keys]


def _page(status: int = 200, **extra):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        key = current(session)
        people = _people(session, key.id)
        keys = _intake_keys(session)
        session.expunge_all()
    return render_template(
        "admin_people.html", people=people, intake_keys=keys, current_key=key, roles=list(Role), **extra
    ), status


def _record(action: str, detail: str) -> None:
    with desk().db.session() as session:
        audit.record(session, action, actor_id=g.user.id, detail=detail)


@bp.get("/people")
@staff_session.require(Role.ADMIN)
def people():  # type: ignore[no-untyped-def]
    return _page()


# --- adding an account -------------------------------------------------------------------------


def _grantable(worker: Caseworker) -> str | None:
    """Why this account may not receive intake keys, or None."""
    if worker.disabled:
        return f"{worker.username} is disabled."
    if worker.role == Role.ANALYST:
        return "Analysts see statistics only and never hold intake keys."
    return None


@bp.post("/people/add")
@staff_session.require(Role.ADMIN)
def add():  # type: ignore[no-untyped-def]
    form = forms.AddPersonForm()
    if not form.validate():
        return _page(400, error="Choose a role." if form.role.errors else f"Nothing was added: {form.problem()}.")
    username, typed, role = form.username.data, form.password.data, Role(form.role.data)
    password = typed or generate_password()
    try:
        with desk().db.session() as session:
            worker = installation.create_caseworker(session, username, password, role, desk().settings.argon2)
            audit.record(session, "caseworker.add", actor_id=g.user.id, detail=f"{worker.username} as {role.value}")
            granted = _grant_on_add(session, worker) if form.grant.data else None
    except (ValueError, installation.UserExists) as exc:  # WeakPassword is a ValueError
        return _page(400, error=_add_problem(exc))
    return _page(
        created=username,
        created_password=None if typed else password,  # shown once, never stored in clear
        message=_added_message(username, granted),
    )


def _grant_on_add(session: Session, worker: Caseworker) -> int | None:
    if _grantable(worker):
        return None
    added = keyring.grant(session, g.keyring, worker)
    audit.record(session, "key.grant", actor_id=g.user.id, detail=f"{worker.username}: {added} intake keys")
    return added


def _add_problem(exc: Exception) -> str:
    if isinstance(exc, WeakPassword):
        return f"That password is too short: {exc}."
    if isinstance(exc, installation.UserExists):
        return "There is already an account with that user name."
    return f"Could not add the account: {exc}."


def _added_message(username: str, granted: int | None) -> str:
    keys = f" and given {granted} intake keys" if granted is not None else " (no intake keys yet)"
    return f"Added {username}{keys}. They set up their authenticator at their first login."


# --- keys -----------------------------------------------------------------------------------------


def _worker(session: Session, worker_id: int) -> Caseworker:
    # Locked: two admins acting on one account at once take turns (no duplicate key wrap, and
    # the stored state is the one the last audited request set).
    worker = session.get(Caseworker, worker_id, with_for_update=True)
    if worker is None:
        abort(404)
    return worker


def refresh_open_sessions(session: Session, caseworker_id: int | None = None) -> None:
    """Give open sessions the intake keys wrapped to them since they logged in (after a grant or
    a rotation), so nobody has to log out to read new reports. A fresh Keyring replaces the old
    one in the vault, so a request already using the old one never sees it change."""
    vault = staff_session.vault()
    rows = select(StaffSession.id)
    if caseworker_id is not None:
        rows = rows.where(StaffSession.caseworker_id == caseworker_id)
    for sid in session.scalars(rows):
        ring = vault.get(sid)
        if ring is not None:
            fresh = _with_new_wraps(session, ring)
            if fresh is not ring:
                vault.put(sid, fresh)
                if sid == g.get("sid"):
                    g.keyring = fresh


def _with_new_wraps(session: Session, ring: Keyring) -> Keyring:
    wraps = session.scalars(select(WrappedKey).where(WrappedKey.recipient_key_id == ring.owner.id.hex()))
    missing = [w for w in wraps if bytes.fromhex(w.intake_key_id) not in ring.intake]
    if not missing:
        return ring
    fresh = Keyring(owner=ring.owner, intake=dict(ring.intake))
    for wrapped in missing:
        pair = keywrap.unwrap(wrapped.envelope, ring.owner, bytes.fromhex(wrapped.intake_key_id))
        fresh.intake[pair.id] = pair
    return fresh


@bp.post(f"/people/<int(max={forms.MAX_ROW_ID}):worker_id>/grant")
@staff_session.require(Role.ADMIN)
def grant(worker_id: int):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        worker = _worker(session, worker_id)
        refusal = _grantable(worker)
        if refusal is None:
            added = keyring.grant(session, g.keyring, worker)
            audit.record(session, "key.grant", actor_id=g.user.id, detail=f"{worker.username}: {added} intake keys")
            session.flush()
            refresh_open_sessions(session, worker.id)
        username = worker.username
    if refusal:
        return _page(400, error=refusal)
    return _page(message=f"Gave {username} {added} intake keys they did not hold yet.")


@bp.post("/intake-key/rotate")
@staff_session.require(Role.ADMIN)
def rotate():  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        old = current(session).id
        new = installation.rotate_intake_key(session)
        audit.record(session, "intake_key.rotate", actor_id=g.user.id, detail=f"{old} -> {new.id}")
        session.flush()
        refresh_open_sessions(session)
        new_id = new.id
    return _page(
        message=f"New reports now go to intake key {new_id}. Reports already received keep their old key, and "
        "anyone who held it (disabled accounts included) could still read those with a copy of the database."
    )


# --- disabling, enabling, lost authenticators ---------------------------------------------------


@bp.post(f"/people/<int(max={forms.MAX_ROW_ID}):worker_id>/disable")
@staff_session.require(Role.ADMIN)
def disable(worker_id: int):  # type: ignore[no-untyped-def]
    if worker_id == g.user.id:
        return _page(400, error="You cannot disable your own account.")
    with desk().db.session() as session:
        worker = _worker(session, worker_id)
        worker.disabled = True
        audit.record(session, "caseworker.disable", actor_id=g.user.id, detail=worker.username)
        username, holds_keys = worker.username, worker.role != Role.ANALYST
    staff_session.end_all_for(worker_id)  # after the commit: their next request finds no session
    return _page(message=f"Disabled {username} and ended their sessions.", offer_rotation=holds_keys, disabled=username)


@bp.post(f"/people/<int(max={forms.MAX_ROW_ID}):worker_id>/enable")
@staff_session.require(Role.ADMIN)
def enable(worker_id: int):  # type: ignore[no-untyped-def]
    with desk().db.session() as session:
        worker = _worker(session, worker_id)
        worker.disabled = False
        worker.failed_logins, worker.locked_until = 0, None
        audit.record(session, "caseworker.enable", actor_id=g.user.id, detail=worker.username)
        username = worker.username
    return _page(message=f"Enabled {username}. If the intake key was rotated meanwhile, grant them the keys again.")


@bp.post(f"/people/<int(max={forms.MAX_ROW_ID}):worker_id>/reset-authenticator")
@staff_session.require(Role.ADMIN)
def reset_authenticator(worker_id: int):  # type: ignore[no-untyped-def]
    """For a lost phone: the next login with the password sets up a new authenticator."""
    with desk().db.session() as session:
        worker = _worker(session, worker_id)
        worker.totp_secret = None
        audit.record(session, "totp.reset", actor_id=g.user.id, detail=worker.username)
        username = worker.username
    staff_session.end_all_for(worker_id)
    return _page(message=f"{username} will set up a new authenticator at their next login.")
