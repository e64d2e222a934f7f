"""Caseworker desk: people and keys (admins only); the rules are in cases/staff_admin.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from cases import errors, staff_admin
from cases.installation import UserExists
from cases.models import Role
from cases.passwords import WeakPassword

from . import forms
from . import session as staff_session
from .context import desk

bp = Blueprint("admin", __name__, url_prefix="/admin")
WORKER = f"<int(max={forms.MAX_ROW_ID}):worker_id>"


def _page(status: int = 200, **extra: Any) -> ResponseReturnValue:
    shown = staff_admin.overview(desk().db)
    page = render_template(
        "admin_people.html",
        people=shown.people,
        intake_keys=shown.intake_keys,
        current_key=shown.current_key,
        roles=list(Role),
        **extra,
    )
    return page, status


@bp.get("/people")
@staff_session.require(Role.ADMIN)
def people() -> ResponseReturnValue:
    return _page()


@bp.post("/people/add")
@staff_session.require(Role.ADMIN)
def add() -> ResponseReturnValue:
    form = forms.AddPersonForm()
    if not form.validate():
        return _page(400, error="Choose a role." if form.role.errors else f"Nothing was added: {form.problem()}.")
    username, typed, role = form.username.data, form.password.data, Role(form.role.data)
    password = typed or staff_admin.generate_password()
    ring = staff_session.keyring() if form.grant.data else None
    try:
        granted = staff_admin.add(
            desk().db, desk().settings.argon2, staff_session.user(), ring, username, password, role
        )
    except (errors.Invalid, UserExists) as exc:
        return _page(400, error=_add_problem(exc))
    return _page(
        created=username,
        created_password=None if typed else password,  # shown once, never stored in clear
        message=_added_message(username, granted),
    )


def _add_problem(exc: Exception) -> str:
    if isinstance(exc, WeakPassword):
        return f"That password is too short: {exc}."
    if isinstance(exc, UserExists):
        return "There is already an account with that user name."
    return f"Could not add the account: {exc}."


def _added_message(username: str, granted: int | None) -> str:
    keys = f" and given {granted} intake keys" if granted is not None else " (no intake keys yet)"
    return f"Added {username}{keys}. They set up their authenticator at their first login."


@bp.post(f"/people/{WORKER}/grant")
@staff_session.require(Role.ADMIN)
def grant(worker_id: int) -> ResponseReturnValue:
    try:
        username, added = staff_admin.grant(
            desk().db, staff_session.vault(), staff_session.user(), staff_session.keyring(), worker_id
        )
    except staff_admin.NotGrantable as exc:
        return _page(400, error=str(exc))
    staff_session.reload_keyring()
    return _page(message=f"Gave {username} {added} intake keys they did not hold yet.")


@bp.post("/intake-key/rotate")
@staff_session.require(Role.ADMIN)
def rotate() -> ResponseReturnValue:
    new_id = staff_admin.rotate(desk().db, staff_session.vault(), staff_session.user())
    staff_session.reload_keyring()
    return _page(
        message=f"New reports now go to intake key {new_id}. Reports already received keep their old key, and "
        "anyone who held it (disabled accounts included) could still read those with a copy of the database."
    )


@bp.post(f"/people/{WORKER}/disable")
@staff_session.require(Role.ADMIN)
def disable(worker_id: int) -> ResponseReturnValue:
    try:
        worker = staff_admin.disable(desk().db, staff_session.vault(), staff_session.user(), worker_id)
    except staff_admin.OwnAccount:
        return _page(400, error="You cannot disable your own account.")
    return _page(
        message=f"Disabled {worker.username} and ended their sessions.",
        offer_rotation=worker.role != Role.ANALYST,
        disabled=worker.username,
    )


@bp.post(f"/people/{WORKER}/enable")
@staff_session.require(Role.ADMIN)
def enable(worker_id: int) -> ResponseReturnValue:
    username = staff_admin.enable(desk().db, staff_session.user(), worker_id)
    return _page(message=f"Enabled {username}. If the intake key was rotated meanwhile, grant them the keys again.")


@bp.post(f"/people/{WORKER}/reset-authenticator")
@staff_session.require(Role.ADMIN)
def reset_authenticator(worker_id: int) -> ResponseReturnValue:
    """For a lost phone: the next login with the password sets up a new authenticator."""
    username = staff_admin.reset_authenticator(desk().db, staff_session.vault(), staff_session.user(), worker_id)
    return _page(message=f"{username} will set up a new authenticator at their next login.")
