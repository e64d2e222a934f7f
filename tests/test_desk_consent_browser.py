"""The desk enforces the consent of the person a report is about, as a caseworker sees it in
real headless Chromium: both answers side by side on the case page, a referral refused with a
message that names the person affected (and nothing saved), and "cannot be asked" allowing
action but never publication."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from cases.models import AuditEvent, Case
from caseworker import session as staff_session

from .desk_helpers import make_desk_app, session_cookie
from .factories import file_case
from .live import Live, serve

pytestmark = pytest.mark.slow

ON_BEHALF = {
    "what_happened": "My brother was taken after he spoke in Geneva.",
    "reporter_role": "family",
    "consent_act": "yes",
    "consent_authorities": "yes",
    "consent_publish": "named",
}


@pytest.fixture
def staff(browser: Any, live: Live) -> Iterator[tuple[Page, str]]:
    """A desk served on loopback and a browser logged in to it as the admin (the session the login
    page would open; the login form itself is tested in test_desk_e2e)."""
    app = make_desk_app(live.settings, live.database)
    app.testing = False  # a refusal is a page, as in production
    with serve(app) as url:
        context = browser.new_context()
        host = url.removeprefix("http://")
        cookie = session_cookie(app, live.database, host=host)
        context.add_cookies([{"name": staff_session.COOKIE, "value": cookie, "url": url}])
        page = context.new_page()
        try:
            yield page, url
        finally:
            context.close()


def _consent_rows(page: Page) -> list[str]:
    return [row.inner_text() for row in page.locator("#consent li").all()]


def _nothing_saved(live: Live, case_id: str) -> None:
    with live.database.session() as session:
        case = session.get_one(Case, case_id)
        assert case.triage_envelope is None, "no referral, no triage stored"
        details = session.scalars(select(AuditEvent.detail).where(AuditEvent.case_id == case_id)).all()
    assert any("reason=affected" in (d or "") for d in details), details


def test_without_the_affected_persons_consent_a_referral_is_refused_and_nothing_saved(
    staff: tuple[Page, str], live: Live
) -> None:
    page, desk = staff
    filed = file_case(live.database, answers={**ON_BEHALF, "affected_consent_act": "no"})
    page.goto(f"{desk}/cases/{filed.case_id}")
    assert "and the person affected allowed" in page.inner_text("#consent h2")
    act, authorities, publish = _consent_rows(page)
    # Side by side: the reporter said yes, the person affected said no; so not given.
    assert "reporter answered: Yes" in act and "person affected: No" in act and "NOT given" in act
    for row in (authorities, publish):  # not asked of the person affected: not given either
        assert "reporter answered: not answered" not in row
        assert "person affected: not answered" in row and "NOT given" in row
    referrals = page.inner_text("#referrals")
    assert "The person affected did NOT agree to action" in referrals and "referrals are not allowed" in referrals
    assert page.locator("#referrals form").count() == 0, "no referral form to fill in"

    # A referral sent anyway (a page kept open from before, a crafted post): refused, by name.
    csrf = page.get_attribute("input[name=csrf]", "value")
    assert csrf
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([action, csrf]) => {
                const form = Object.assign(document.createElement('form'), { method: 'post', action });
                for (const [name, value] of [['csrf', csrf], ['to', 'Special Rapporteur'], ['on', '2024-05-02']])
                    form.append(Object.assign(document.createElement('input'), { type: 'hidden', name, value }));
                document.body.append(form);
                form.submit();
            }""",
            [f"{desk}/cases/{filed.case_id}/referrals", csrf],
        )
    refused = navigation.value
    assert refused is not None and refused.status == 409
    text = page.inner_text("body")
    assert "The person affected did NOT agree" in text and "Traceback" not in text
    _nothing_saved(live, filed.case_id)


def test_a_person_who_cannot_be_asked_allows_acting_but_not_publication(staff: tuple[Page, str], live: Live) -> None:
    page, desk = staff
    answers = {
        **ON_BEHALF,
        "situation": "detained",
        "affected_consent_act": "cannot_ask",
        "affected_consent_authorities": "cannot_ask",
        "affected_consent_publish": "cannot_ask",
    }
    filed = file_case(live.database, answers=answers)
    page.goto(f"{desk}/cases/{filed.case_id}")
    act, authorities, publish = _consent_rows(page)
    assert "Given" in act and "NOT given" not in act and "person affected:" in act
    assert "NOT given" not in authorities
    assert "reporter answered:" in publish and "NOT given" in publish, "nobody publishes for them"

    page.check("input[name=verification][value=credible]")
    page.click("button:has-text('Save triage')")
    page.wait_for_selector("#referral-to")
    page.fill("#referral-to", "Working Group on Arbitrary Detention")
    page.click("#referrals button:has-text('Add referral')")
    page.wait_for_load_state("load")
    assert "Working Group on Arbitrary Detention" in page.inner_text("#referrals")
    with live.database.session() as session:
        assert session.get_one(Case, filed.case_id).triage_envelope is not None
