"""A report sent on someone else's behalf needs the agreement of the person it is about.

The form asks the sender whether the person affected knows and agrees to each action; the desk
shows both answers side by side and allows only what both allowed, in referrals, on paper and in
the public statistics. "Cannot be asked" (detained, missing) lets the sender's consent stand for
acting, never for publication.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cases import casefile, keyring, statistics
from cases.config import Settings
from cases.consent import Consent, Publish
from cases.db import Database
from cases.models import AuditEvent, Case, Caseworker

from .conftest import Installed
from .factories import file_case
from .reporter_helpers import PageFields, details_page, send_details_no_js, token_of

SENDER_ALLOWS_ALL = {
    "what_happened": "My brother was taken after he spoke in Geneva.",
    "consent_act": "yes",
    "consent_authorities": "yes",
    "consent_publish": "named",
    "reporter_role": "family",
}


@pytest.mark.parametrize(
    ("affected", "act", "authorities", "publish"),
    [
        ({}, False, False, Publish.NO),  # not answered: nothing is allowed on their behalf
        ({"affected_consent_act": "not_asked"}, False, False, Publish.NO),
        ({"affected_consent_act": "yes", "affected_consent_authorities": "no"}, True, False, Publish.NO),
        (
            {"affected_consent_act": "yes", "affected_consent_authorities": "yes", "affected_consent_publish": "named"},
            True,
            True,
            Publish.NAMED,
        ),
        ({"affected_consent_publish": "anonymised"}, False, False, Publish.ANONYMISED),  # the narrower of the two
        (
            {
                "affected_consent_act": "cannot_ask",
                "affected_consent_authorities": "cannot_ask",
                "affected_consent_publish": "cannot_ask",
            },
            True,
            True,
            Publish.NO,  # nobody publishes about a person who could not agree
        ),
    ],
)
def test_on_behalf_both_must_allow(affected: dict[str, str], act: bool, authorities: bool, publish: Publish) -> None:
    consent = Consent.from_answers({**SENDER_ALLOWS_ALL, **affected})
    assert (consent.act, consent.authorities, consent.publish) == (act, authorities, publish)
    assert consent.on_behalf


def test_the_person_affected_cannot_widen_what_the_sender_allowed() -> None:
    answers = {
        "reporter_role": "organisation",
        "consent_act": "no",
        "affected_consent_act": "yes",
        "affected_consent_publish": "named",
    }
    consent = Consent.from_answers(answers)
    assert (consent.act, consent.publish) == (False, Publish.NO)


def test_a_person_reporting_for_themselves_is_asked_nothing_more() -> None:
    answers = {"consent_act": "yes", "reporter_role": "self", "affected_consent_act": "no"}
    assert Consent.from_answers(answers).act is True
    assert Consent.from_answers({"consent_act": "yes"}).act is True  # role not given: the sender's word


def _post(client: FlaskClient, case_id: str, path: str, data: dict[str, str]) -> Any:
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    return client.post(f"/cases/{case_id}{path}", data={"csrf": csrf.group(1), **data})


def test_the_desk_shows_both_answers_and_refuses_what_the_person_affected_did_not_allow(
    desk_app: Flask, desk_client: FlaskClient, database: Database
) -> None:
    filed = file_case(database, answers={**SENDER_ALLOWS_ALL, "affected_consent_act": "not_asked"})
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    consent = page[page.index('id="consent"') : page.index('id="facts"')]
    assert "the person affected" in consent and "person affected: I have not asked them" in consent
    assert "NOT given" in consent and "reporter answered: Yes" in consent
    assert "The person affected did NOT agree to action" in page

    response = _post(desk_client, filed.case_id, "/referrals", {"to": "Special Rapporteur", "on": "2024-05-02"})
    assert response.status_code == 409
    assert "The person affected did NOT agree" in response.get_data(as_text=True)
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).triage_envelope is None, "nothing stored"
        details = session.scalars(select(AuditEvent.detail).where(AuditEvent.case_id == filed.case_id)).all()
    assert "reason=affected" in details

    printed = desk_client.get(f"/cases/{filed.case_id}/print").get_data(as_text=True)
    assert "person affected: I have not asked them" in printed and "(NOT given)" in printed


def test_detained_and_cannot_be_asked_lets_the_family_act_but_not_publish(
    desk_app: Flask, desk_client: FlaskClient, database: Database
) -> None:
    answers = {
        **SENDER_ALLOWS_ALL,
        "situation": "detained",
        "affected_consent_act": "cannot_ask",
        "affected_consent_publish": "cannot_ask",
    }
    filed = file_case(database, answers=answers)
    response = _post(desk_client, filed.case_id, "/referrals", {"to": "Working Group", "on": "2024-05-02"})
    assert response.status_code == 303
    facts = statistics.facts(filed_on(database, filed.case_id), answers)
    assert facts.publish == "no", "left out of the public statistics"


def filed_on(database: Database, case_id: str) -> Any:
    with database.session() as session:
        return session.get_one(Case, case_id).received_on


def test_the_form_asks_for_the_affected_persons_consent_without_javascript(
    intake_client: FlaskClient,
    forms_without_wait: None,
    database: Database,
    installed: Installed,
    settings: Settings,
) -> None:
    """The details page (after the quick report) asks it; the desk reads it merged into the report."""
    quick = {"what_happened": "Ils ont arrêté ma sœur.", "consent_act": "yes"}
    details = {
        "reporter_role": "family",
        "affected_knows": "no",
        "affected_consent_act": "cannot_ask",
        "affected_contact": "Par son avocat seulement.",
    }
    page = PageFields.of(intake_client.get("/fr/").get_data(as_text=True))
    receipt = intake_client.post("/fr/report", data={**page.no_js_form(), **quick}).get_data(as_text=True)
    token = token_of(receipt)
    form = details_page(intake_client, "fr", receipt, token)
    assert 'name="affected_consent_act"' in form and 'value="cannot_ask"' in form
    assert "La personne concernée accepte-t-elle que nous agissions" in form
    status = send_details_no_js(intake_client, "fr", form, token, details)
    assert status.status_code == 200 and "Vos détails ont été ajoutés." in status.get_data(as_text=True)
    with database.session() as session:
        case = session.scalars(select(Case)).one()
        ring = keyring.unlock(session, session.scalars(select(Caseworker)).one(), installed.admin_password)
        merged = casefile.load(session, case, ring.private_keys(), "fr")
    assert merged.report is not None
    assert {k: merged.report.answers.get(k) for k in {**quick, **details}} == {**quick, **details}
    assert merged.consent.on_behalf and merged.consent.act and not merged.consent.authorities
