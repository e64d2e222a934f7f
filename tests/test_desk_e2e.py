"""The whole loop in real headless Chromium: a report sealed in the browser reaches the desk, a
caseworker logs in with a TOTP code, triages it, replies and moves it on; the reporter sees both
with the token; the audit chain verifies; exports open; an analyst cannot open the case."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import select

import caseworker
from cases import audit, installation
from cases.models import AuditEvent, Case, Role, Status

from .desk_helpers import logged_in_client
from .live import open_page, serve
from .reporter_helpers import CANARY, only_case
from .test_reporter_browser import fill_report, open_status, submit_and_read_token

pytestmark = pytest.mark.slow


def _code(secret_text: str, offset: int = 0) -> str:
    secret = base64.b32decode(secret_text.replace(" ", "").upper() + "=" * (-len(secret_text.replace(" ", "")) % 8))
    return TOTP(secret, 6, SHA1(), 30, enforce_key_length=False).generate(int(time.time()) + offset).decode()


@pytest.fixture
def desk(live):
    app = caseworker.create_app(live.settings, live.database)
    with serve(app) as url:
        yield url, app


def test_report_to_reply_and_back(browser, live, desk, installed) -> None:
    desk_url, desk_app = desk
    reporter = open_page(browser, live, js=True)
    fill_report(reporter, live)
    token = submit_and_read_token(reporter, js=True, files=True)
    case_id = only_case(live.database).id

    # First login: password, then enrol the authenticator and confirm with its code.
    staff = browser.new_context().new_page()
    staff.goto(desk_url + "/login")
    staff.fill("input[name=username]", "admin")
    staff.fill("input[name=password]", installed.admin_password)
    staff.click("button[type=submit]")
    secret = staff.inner_text("#totp-secret").strip()
    staff.fill("input[name=code]", _code(secret))
    staff.click("button[type=submit]")
    staff.wait_for_selector("text=Log out")
    staff.click("text=Log out")
    # Every later login needs password and a fresh code (the next time step: codes are single-use).
    staff.goto(desk_url + "/login")
    staff.fill("input[name=username]", "admin")
    staff.fill("input[name=password]", installed.admin_password)
    staff.fill("input[name=code]", _code(secret, offset=30))
    staff.click("button[type=submit]")
    staff.wait_for_selector("text=Log out")

    # The inbox lists the urgent case; the case view shows what the reporter wrote.
    staff.goto(desk_url + "/")
    staff.click(f"a[href$='/cases/{case_id}']")
    assert CANARY in staff.inner_text("main")
    staff.check("input[name=verification][value=credible]")
    staff.click("button:has-text('Save triage')")
    staff.fill("#reply-text", "We received your report. Are you safe?")
    staff.click("button:has-text('Send reply')")
    staff.select_option("#status", Status.UNDER_REVIEW.value)
    staff.fill("#explanation", "A caseworker is checking the facts with partners.")
    staff.click("button:has-text('Change stage')")
    with live.database.session() as session:
        assert session.get_one(Case, case_id).status is Status.UNDER_REVIEW

    # Exports open: the JSON download and the printable page.
    with staff.expect_download() as download:
        staff.evaluate(f"location.href = '/cases/{case_id}/export.json'")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert CANARY in json.dumps(exported, ensure_ascii=False)
    staff.goto(desk_url + f"/cases/{case_id}/print")
    assert CANARY in staff.inner_text("main")

    # The reporter sees the reply and the new stage with the token alone.
    open_status(reporter, live, token, js=True)
    text = reporter.inner_text("main")
    assert "We received your report. Are you safe?" in text
    assert "A caseworker is checking the facts with partners." in text
    assert "Under review" in text

    # An analyst can log in but cannot open the case.
    with live.database.session() as session:
        installation.create_caseworker(session, "ana", "ana's long password", Role.ANALYST, live.settings.argon2)
    analyst = logged_in_client(desk_app, live.database, "ana", "ana's long password")
    assert analyst.get(f"/cases/{case_id}").status_code == 403
    assert analyst.get(f"/cases/{case_id}/export.json").status_code == 403
    assert analyst.get("/statistics").status_code == 200

    with live.database.session() as session:
        assert audit.verify(session) is None
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"login.success", "case.view", "status.change", "reply.send", "access.denied"} <= actions
