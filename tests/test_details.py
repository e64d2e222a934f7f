"""The quick path's step 3: details added after the report, with the token, with or without
JavaScript; what is stored (sealed, new rows only) and what the desk makes of it (one merged
report, "added on", consent enforced, hostile details contained)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from cases import details as details_module
from cases import filing as filing_module
from cases import inbox_index, keyring, reading, statistics, statistics_facts
from cases.config import Settings
from cases.conversation import context
from cases.intake_keys import current
from cases.models import Case, Caseworker, ReportDetails, Submission
from cases.questionnaire import DETAILS
from crypto.envelope import Purpose, read_header, seal
from crypto.inbox_index import EntryCipher

from .conftest import ADMIN_PASSWORD
from .reporter_helpers import (
    PageFields,
    assert_no_canary_at_rest,
    b64,
    details_page,
    quick_report_with_details_no_js,
    send_details_no_js,
    solve,
    token_of,
)

CANARY = "CANARY-details-5b2e-held-in-Tripoli"


@pytest.fixture
def intake_settings(settings: Settings, forms_without_wait: None) -> Settings:
    return dataclasses.replace(settings, pow_bits=4)


def _rows(database) -> list[ReportDetails]:
    with database.session() as session:
        return list(session.scalars(select(ReportDetails).order_by(ReportDetails.id)))


def _case_page(desk_client, case_id: str) -> str:
    response = desk_client.get(f"/cases/{case_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _only_case_id(database) -> str:
    with database.session() as session:
        return session.scalars(select(Case.id)).one()


def _status(intake_client, token: str) -> str:
    page = PageFields.of(intake_client.get("/en/status").get_data(as_text=True))
    response = intake_client.post("/en/status", data={**page.no_js_form(), "token": token})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _api_details(intake_client, token: str, plaintext: bytes, *, purpose: Purpose = Purpose.DETAILS, ctx=None, **extra):
    """What app.js sends from the details page: the answers sealed to the page's key and context."""
    page_html = details_page(intake_client, "en", _status(intake_client, token), token)
    page = PageFields.of(page_html)
    key = re.search(r'<form id="details"[^>]*data-key="([^"]+)"', page_html, re.S).group(1)
    context = re.search(r'data-context="([^"]+)"', page_html).group(1).encode() if ctx is None else ctx
    public = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    body = {
        "challenge": page.js_challenge,
        "solution": solve(page.js_challenge),
        "token": token,
        "details": b64(seal(public, purpose, plaintext, context=context)),
        **extra,
    }
    return intake_client.post("/en/api/details", json=body, headers=page.csrf_header())


def _details_json(answers: dict) -> bytes:
    return json.dumps({"v": 1, "lang": "en", "answers": answers}).encode()


def test_no_js_details_from_the_receipt_are_sealed_and_the_desk_merges_them(
    intake_client, desk_client, database, settings
) -> None:
    quick = {"danger": "no", "what_happened": "They took my passport at the airport.", "consent_act": "yes"}
    extra = {"place": f"Airport {CANARY}", "act_types": ["travel_ban", "threats"], "consent_authorities": "yes"}
    _token, status = quick_report_with_details_no_js(intake_client, "en", quick, extra)
    assert "Your details were added." in status
    rows = _rows(database)
    assert len(rows) == 1 and read_header(rows[0].envelope).purpose is Purpose.DETAILS
    assert_no_canary_at_rest(database, settings, CANARY)  # sealed in memory, never stored in clear
    page = _case_page(desk_client, rows[0].case_id)
    assert "They took my passport at the airport." in page
    assert re.search(
        r'<dt id="q-place">Where exactly\? <span class="badge added">added on \d{4}-\d\d-\d\d</span>', page
    )
    assert re.search(r'<dt id="q-what_happened">What happened\?</dt>', page)  # in the report itself
    assert CANARY in page and "Travel ban" in page


def test_the_receipt_and_status_page_offer_details_with_the_steps(intake_client) -> None:
    form = intake_client.get("/ar/").get_data(as_text=True)
    assert form.count('aria-current="step"') == 1 and re.search(r'<li aria-current="step">1 [^<]+</li>', form)
    page = PageFields.of(form)
    receipt = intake_client.post("/ar/report", data={**page.no_js_form(), "what_happened": "x"}).get_data(as_text=True)
    assert re.search(r'<li aria-current="step">2 [^<]+</li>', receipt)
    assert 'id="add-details"' in receipt and "Add details" not in receipt  # in Arabic
    token = token_of(receipt)
    shown = details_page(intake_client, "ar", receipt, token)
    assert re.search(r'<li aria-current="step">3 [^<]+</li>', shown)
    for name in DETAILS:
        assert f'name="{name}"' in shown, name
    assert 'name="what_happened"' not in shown and 'name="danger"' not in shown
    status = _status(intake_client, token)
    assert 'id="add-details"' in status and ">Add details<" in status


def test_a_bad_answer_is_explained_next_to_it_and_nothing_is_stored(intake_client, database) -> None:
    page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
    receipt = intake_client.post("/en/report", data={**page.no_js_form(), "what_happened": "x"}).get_data(as_text=True)
    token = token_of(receipt)
    shown = details_page(intake_client, "en", receipt, token)
    response = send_details_no_js(
        intake_client, "en", shown, token, {"situation": "on the moon", "place": "Kept <b>", "when": "x" * 201}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'id="situation-error" role="alert">Please choose one of the answers shown.', html)
    assert re.search(r'id="when-error" role="alert">This answer is too long: 201 characters', html)
    assert 'value="Kept &lt;b&gt;"' in html  # kept, escaped
    assert _rows(database) == []
    nothing = send_details_no_js(intake_client, "en", html, token, {})  # the page again, its new challenge
    assert nothing.status_code == 400 and "Answer at least one question" in nothing.get_data(as_text=True)
    assert _rows(database) == []


def test_later_details_replace_earlier_answers_and_a_withdrawn_consent_is_enforced(
    intake_client, desk_app, desk_client, database, monkeypatch
) -> None:
    from .test_desk_case import post

    quick = {"what_happened": "My office was raided.", "consent_act": "yes"}
    monkeypatch.setattr(filing_module, "today", lambda: dt.date(2026, 3, 1))
    token, _ = quick_report_with_details_no_js(
        intake_client, "en", quick, {"consent_authorities": "yes", "when": "January"}
    )
    case_id = _only_case_id(database)
    # Given in the details (the quick form does not ask it): a referral to the authorities may go.
    to_authorities = {"to": "Ministry of Justice", "on": "2026-03-02", "authorities": "1"}
    assert post(desk_client, desk_app, case_id, "/referrals", to_authorities).status_code in (200, 302, 303)
    with database.session() as session:
        referred = session.get_one(Case, case_id).triage_envelope
    assert referred is not None
    monkeypatch.setattr(filing_module, "today", lambda: dt.date(2026, 3, 9))
    shown = details_page(intake_client, "en", _status(intake_client, token), token)
    assert send_details_no_js(intake_client, "en", shown, token, {"consent_authorities": "no"}).status_code == 200
    page = _case_page(desk_client, case_id)
    assert re.search(r'<dt id="q-when">When did it happen\? <span class="badge added">added on 2026-03-01', page)
    consent = re.search(r'<section class="consent" id="consent".*?</section>', page, re.S).group(0)
    assert re.search(r"authorities[^<]*<strong>NOT given</strong>.*?added on 2026-03-09", consent, re.S)
    # The authorities consent, given on the 1st and withdrawn on the 9th, is withdrawn.
    refused = post(desk_client, desk_app, case_id, "/referrals", {**to_authorities, "on": "2026-03-10"})
    assert refused.status_code == 409 and "authorities" in refused.get_data(as_text=True)
    with database.session() as session:
        assert session.get_one(Case, case_id).triage_envelope == referred, "nothing stored"
    allowed = post(desk_client, desk_app, case_id, "/referrals", {"to": "UN Special Rapporteur", "on": "2026-03-10"})
    assert allowed.status_code in (200, 302, 303)
    export = desk_client.get(f"/cases/{case_id}/export.json")
    assert export.status_code == 200
    document = json.loads(export.get_data())
    assert document["report"]["answers"]["consent_authorities"] == "no"
    assert document["added_on"] == {"consent_authorities": "2026-03-09", "when": "2026-03-01"}
    printed = desk_client.get(f"/cases/{case_id}/print").get_data(as_text=True)
    assert "When did it happen? (added on 2026-03-01)" in printed


def test_details_sealed_in_the_browser_reach_the_desk_and_the_inbox_index(
    intake_client, desk_client, database, installed
) -> None:
    page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
    receipt = intake_client.post(
        "/en/report", data={**page.no_js_form(), "what_happened": "Followed home.", "consent_act": "yes"}
    ).get_data(as_text=True)
    token = token_of(receipt)
    case_id = _only_case_id(database)
    assert desk_client.get("/").status_code == 200  # the inbox builds and stores the entry
    response = _api_details(intake_client, token, _details_json({"country": "KE", "un_link": ["upr"]}))
    assert response.status_code == 200 and response.get_json() == {"added": True}
    # Double submit: a second copy is one more row, merging to the same answers.
    assert _api_details(intake_client, token, _details_json({"country": "KE", "un_link": ["upr"]})).status_code == 200
    assert len(_rows(database)) == 2
    inbox = desk_client.get("/").get_data(as_text=True)
    assert "Kenya" in inbox or "KE" in inbox
    newest = max(r.id for r in _rows(database))
    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, admin, ADMIN_PASSWORD)
        case = session.get_one(Case, case_id)
        entry = inbox_index.open_entry(EntryCipher(inbox_index.index_key(session, ring)), case.id, case.index_blob)
        assert entry is not None and entry["country"] == "KE" and entry["un_link"] == ["upr"]
        assert entry["d"] == newest
        facts, unreadable = statistics_facts.direct_facts(session, ring.private_keys(), [case])
        assert unreadable == 0 and facts[0] == statistics.facts(
            case.received_on, {"country": "KE", "un_link": ["upr"], "consent_act": "yes"}, None
        )
    page_html = _case_page(desk_client, case_id)
    assert page_html.count("added on") >= 2


def test_the_api_refuses_what_is_not_details(intake_client, database) -> None:
    page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
    receipt = intake_client.post("/en/report", data={**page.no_js_form(), "what_happened": "x"}).get_data(as_text=True)
    token = token_of(receipt)
    wrong_purpose = _api_details(intake_client, token, _details_json({"when": "x"}), purpose=Purpose.MESSAGE)
    assert wrong_purpose.status_code == 400 and "error" in wrong_purpose.get_json()
    with_files = _api_details(intake_client, token, _details_json({"when": "x"}), files=[])
    assert with_files.status_code == 200  # an empty list declares nothing
    declared = _api_details(
        intake_client, token, _details_json({"when": "x"}), files=[{"manifest": "AAAA", "chunks": 1}]
    )
    assert declared.status_code == 400
    assert len(_rows(database)) == 1


@pytest.mark.parametrize(
    ("plaintext", "context", "reason"),
    [
        (b"[" * 5000, None, "cannot read"),
        (b'{"v": 1, "answers": {"situation": {"deep": [1, 2]}}}', None, "cannot read"),
        (b'{"v": 1, "answers": {"situation": "free"}}', b"case:someone-else/details", "cannot be opened"),
        (b"\xff\xfe not json", None, "cannot read"),
    ],
)
def test_hostile_details_leave_the_case_page_and_inbox_working(
    intake_client, desk_client, database, plaintext, context, reason
) -> None:
    page = PageFields.of(intake_client.get("/en/").get_data(as_text=True))
    receipt = intake_client.post(
        "/en/report", data={**page.no_js_form(), "what_happened": "Still readable.", "consent_act": "yes"}
    ).get_data(as_text=True)
    token = token_of(receipt)
    assert _api_details(intake_client, token, plaintext, ctx=context).status_code == 200
    case_id = _only_case_id(database)
    html = _case_page(desk_client, case_id)
    assert "Still readable." in html and "Unreadable details added on" in html and reason in html
    assert desk_client.get("/").status_code == 200


def test_answers_outside_the_details_are_not_merged(database, installed, settings) -> None:
    """A client may seal anything: details cannot rewrite what happened or the urgent answer."""
    from .factories import file_case

    filed = file_case(database, answers={"what_happened": "original", "danger": "no"}, settings=settings)
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        public = current(session).public_key
        envelope = seal(
            public,
            Purpose.DETAILS,
            _details_json({"what_happened": "rewritten", "danger": "yes", "when": "May"}),
            context=context(case.id, "details"),
        )
        session.add(
            ReportDetails(
                case_id=case.id, received_on=dt.date(2026, 1, 2), intake_key_id=current(session).id, envelope=envelope
            )
        )
    with database.session() as session:
        admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, admin, ADMIN_PASSWORD)
        case = session.get_one(Case, filed.case_id)
        merged = details_module.merged(
            ring.private_keys(), session, case, reading.open_report(ring.private_keys(), session, case).report
        )
    assert merged.report is not None
    assert dict(merged.report.answers) == {"what_happened": "original", "danger": "no", "when": "May"}
    assert merged.added_on == {"when": dt.date(2026, 1, 2)}
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1


def test_retention_erases_the_details_with_their_case(intake_client, database, settings) -> None:
    from cases import retention
    from cases.blobs import FilesystemBlobStore

    quick_report_with_details_no_js(intake_client, "en", {"what_happened": "x"}, {"when": "May"})
    case_id = _only_case_id(database)
    assert len(_rows(database)) == 1
    with database.session() as session:
        retention.erase(session, FilesystemBlobStore(settings.blob_dir), case_id)
    assert _rows(database) == []
