"""One case on the caseworker desk: reading it, files, triage, consent, replies, notes, roles.

Cases are filed through the domain layer exactly as the intake app files them (sealed report,
sealed files); the desk is driven through the Flask test client with a real staff session.
"""

from __future__ import annotations

import html
import json
import re

import markupsafe
import pytest
from sqlalchemy import select

from cases import audit, conversation, installation, keyring, reports, tokens, triage
from cases.blobs import FilesystemBlobStore
from cases.consent import Consent, Publish, ReferralRefused
from cases.intake_keys import current
from cases.models import (
    Attachment,
    AuditEvent,
    Case,
    Caseworker,
    Direction,
    Message,
    Note,
    Role,
    Status,
)
from cases.questionnaire import QUESTIONS, SECTIONS
from cases.reading import catalogue
from caseworker.downloads import ascii_filename, content_disposition
from crypto import token
from crypto.envelope import Purpose, open_envelope
from crypto.stream import CHUNK_SIZE, seal_file

from . import factories
from .conftest import ADMIN_PASSWORD
from .desk_helpers import csrf_of, logged_in_client
from .factories import Filed
from .reporter_helpers import assert_no_canary_at_rest

CANARY = "CANARY-desk-9c1d-hidden-in-Herat"
HOSTILE_NAME = '"><img src=x onerror=alert(1)>.html'
PASSWORD = "a long enough caseworker passphrase"


def file_case(database, settings, answers: dict, files=(), lang: str = "en", urgent: bool = False) -> Filed:
    """A case with a real reporter token, its files in the installation's blob store."""
    return factories.file_case(
        database,
        answers=answers,
        files=files,
        lang=lang,
        urgent=urgent,
        settings=settings,
        blobs=FilesystemBlobStore(settings.blob_dir),
    )


def full_answers() -> dict:
    """Every question answered: all choices of each 'many', the first of each 'one'."""
    answers: dict = {}
    for q in QUESTIONS.values():
        if q.kind == "many":
            answers[q.name] = [c.value for c in q.choices]
        elif q.kind == "one":
            answers[q.name] = q.choices[0].value
        else:
            answers[q.name] = f"{q.name}: {CANARY}"
    return answers


def add_worker(database, name: str, role: Role, language: str = "en", grant: bool = True) -> int:
    """A second account; staff get the intake keys granted from the admin's ring."""
    with database.session() as session:
        worker = installation.create_caseworker(session, name, PASSWORD, role, tokens.kdf_params(session))
        worker.language = language
        if grant and role is not Role.ANALYST:
            admin = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
            keyring.grant(session, keyring.unlock(session, admin, ADMIN_PASSWORD), worker)
        return worker.id


def post(client, desk_app, case_id: str, path: str, data: dict | None = None):
    csrf = csrf_of(client, desk_app, f"/cases/{case_id}")
    return client.post(f"/cases/{case_id}{path}", data={"csrf": csrf, **(data or {})})


def answers_on_page(page: str) -> dict[str, tuple[str, str]]:
    """{question name: (label, shown value)} as a person reads them (entities decoded)."""
    pairs = re.findall(r'<dt id="q-([a-z_]+)">(.*?)</dt>\s*<dd>(.*?)</dd>', page, re.S)
    return {name: (html.unescape(label), html.unescape(re.sub(r"<[^>]+>", "", dd))) for name, label, dd in pairs}


def actions(database, case_id: str) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id))
        )


def assert_audit_intact(database) -> None:
    with database.session() as session:
        assert audit.verify(session) is None
        details = " ".join(session.scalars(select(AuditEvent.detail)))
    assert CANARY not in details


# --- reading --------------------------------------------------------------------------------


def test_every_answered_field_is_shown_with_its_label(desk_app, desk_client, database, settings) -> None:
    answers = full_answers()
    filed = file_case(database, settings, answers, lang="fr", urgent=True)
    response = desk_client.get(f"/cases/{filed.case_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = answers_on_page(page)
    assert set(shown) == set(QUESTIONS), "every answered question appears, and nothing else"
    for q in QUESTIONS.values():
        label, value = shown[q.name]
        assert label == q.label
        if q.choices:
            chosen = answers[q.name] if isinstance(answers[q.name], list) else [answers[q.name]]
            labels = {c.value: c.label for c in q.choices}
            for v in chosen:
                assert labels[v] in value, (q.name, v)
        else:
            assert value == answers[q.name]
    for section in SECTIONS:
        assert f"<h3>{html.escape(section.title, quote=False)}</h3>" in page
    # The facts a caseworker needs before reading on.
    text = html.unescape(page)
    assert "French (fr)" in text and "reporter's browser" in text and "URGENT" in text
    with database.session() as session:
        received = session.get_one(Case, filed.case_id).received_on.isoformat()
    assert received in page and "nobody" in text
    assert actions(database, filed.case_id) == ["case.view", "case.decrypt"]
    assert_audit_intact(database)


def test_unanswered_questions_are_not_shown_and_unknown_values_are_text(desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x", "act_types": ["threats", "<b>made-up</b>"], "zzz": 1})
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    shown = answers_on_page(page)
    assert set(shown) == {"what_happened", "act_types"}
    assert shown["act_types"][1] == "Threats or intimidation, <b>made-up</b>"
    assert "<b>made-up</b>" not in page and "&lt;b&gt;made-up&lt;/b&gt;" in page


def test_consent_is_prominent_and_missing_or_no_reads_not_given(desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x", "consent_act": "no", "consent_publish": "anonymised"})
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    box = re.search(r'<section class="consent" id="consent".*?</section>', page, re.S)
    assert box and page.index('id="consent"') < page.index('id="report"'), "consent comes before the report"
    items = [
        (bool(cls), html.unescape(body))
        for cls, body in re.findall(r'<li( class="no")?>(.*?)</li>', box.group(0), re.S)
    ]

    def row(name: str) -> tuple[bool, str]:
        found = [item for item in items if QUESTIONS[name].label in item[1]]
        assert len(found) == 1, name
        return found[0]

    styled_no, text = row("consent_act")
    assert styled_no and "<strong>NOT given</strong>" in text and "reporter answered: No" in text
    styled_no, text = row("consent_authorities")
    assert styled_no and "<strong>NOT given</strong>" in text and "reporter answered: not answered" in text
    styled_no, text = row("consent_publish")
    assert not styled_no and "<strong>Given</strong>" in text and "reporter answered: Yes, but without names" in text
    assert "referrals are not allowed" in page


def test_consent_helper_reads_only_explicit_answers() -> None:
    assert Consent.from_answers({}) == Consent(act=False, authorities=False, publish=Publish.NO)
    given = Consent.from_answers({"consent_act": "yes", "consent_authorities": "no", "consent_publish": "named"})
    assert given == Consent(act=True, authorities=False, publish=Publish.NAMED)
    assert given.allows_statistics()
    hostile = Consent.from_answers({"consent_act": ["yes"], "consent_publish": "everyone"})
    assert hostile == Consent(act=False, authorities=False, publish=Publish.NO)
    assert not hostile.allows_statistics()


def test_consent_rules_refuse_referrals_the_reporter_did_not_allow() -> None:
    with pytest.raises(ReferralRefused) as refused:
        Consent(act=False, authorities=True, publish=Publish.NAMED).check_referral(authorities=False)
    assert refused.value.reason == "consent"
    acting = Consent(act=True, authorities=False, publish=Publish.NO)
    acting.check_referral(authorities=False)
    with pytest.raises(ReferralRefused) as refused:
        acting.check_referral(authorities=True)
    assert refused.value.reason == "authorities"


def test_labels_follow_the_caseworkers_language(desk_app, database, settings) -> None:
    add_worker(database, "claire", Role.CASEWORKER, language="fr")
    filed = file_case(database, settings, {"what_happened": "x", "act_types": ["threats"], "consent_act": "yes"})
    client = logged_in_client(desk_app, database, "claire", PASSWORD)
    shown = answers_on_page(client.get(f"/cases/{filed.case_id}").get_data(as_text=True))
    french = catalogue("fr").gettext
    assert french("What happened?") != "What happened?", "the French catalogue must be found"
    assert shown["what_happened"][0] == french("What happened?")
    assert shown["act_types"] == (french("What kind of harm? Choose all that fit."), french("Threats or intimidation"))
    assert shown["consent_act"][1] == french("Yes")
    assert catalogue("xx").gettext("What happened?") == "What happened?"  # unknown: English
    assert catalogue("../../etc").gettext("Yes") == "Yes"  # not a language code: never a path


def test_thread_timeline_and_files_are_shown_and_reporter_messages_marked_read(desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"}, files=[("report.txt", b"one", "text/plain")])
    blobs = FilesystemBlobStore(settings.blob_dir)
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        team, mine = conversation.seal_follow_up(session, case, f"Follow-up {CANARY}")
        message = conversation.add_follow_up(session, case, team, mine)
        manifest, chunks = seal_file(current(session).public_key, b"two", "later.txt", "text/plain")
        reports.attach_file(session, blobs, case, manifest, chunks, message_id=message.id)
        conversation.change_status(session, case, Status.NEED_INFO, "Please tell us the date.", None)
    page = html.unescape(desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True))
    assert f"Follow-up {CANARY}" in page and "Reporter wrote" in page
    assert "Please tell us the date." in page and "More information needed" in page
    assert "report.txt" in page and "later.txt" in page
    with database.session() as session:
        read = session.scalar(select(Message.read_on).where(Message.case_id == filed.case_id))
    assert read is not None


# --- triage, assignment, referrals ------------------------------------------------------------


def test_triage_is_stored_only_sealed_and_read_back(desk_app, desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x", "act_types": ["surveillance"], "consent_act": "yes"})
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "No triage yet" in page and 'value="surveillance" checked' in page  # the reporter's words as a start
    form = {
        "urgent": "1",
        "verification": "credible",
        "act_types": ["threats", "arrest_detention"],
        "perpetrator": ["security_forces"],
        "un_link": ["upr"],
        "country": "other",  # not in the list: written out
        "country_other": f"Country {CANARY}",
    }
    assert post(desk_client, desk_app, filed.case_id, "/triage", form).status_code == 303
    assert (
        post(
            desk_client, desk_app, filed.case_id, "/referrals", {"to": f"Partner {CANARY}", "on": "2024-05-02"}
        ).status_code
        == 303
    )
    # A second triage keeps the referrals (read-modify-write).
    again = {**form, "verification": "confirmed"}
    assert post(desk_client, desk_app, filed.case_id, "/triage", again).status_code == 303

    assert_no_canary_at_rest(database, settings, CANARY, "Partner", "credible", "arrest_detention")
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        admin_worker = session.scalars(select(Caseworker).where(Caseworker.username == "admin")).one()
        ring = keyring.unlock(session, admin_worker, ADMIN_PASSWORD)
        doc = triage.load(ring.private_keys(), case).document()
        assert case.urgent is True
        raw = json.loads(
            open_envelope(
                ring.private_keys(), Purpose.TRIAGE, case.triage_envelope, conversation.context(case, "triage")
            )
        )
    assert doc == raw
    assert doc["verification"] == "confirmed"
    assert doc["act_types"] == ["threats", "arrest_detention"]
    assert doc["perpetrator"] == ["security_forces"] and doc["un_link"] == ["upr"]
    assert doc["country"] == f"Country {CANARY}"
    assert doc["referrals"] == [{"to": f"Partner {CANARY}", "on": "2024-05-02", "outcome": "", "authorities": False}]

    page = html.unescape(desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True))
    assert "No triage yet" not in page and f'value="Country {CANARY}"' in page and 'value="confirmed" checked' in page
    with database.session() as session:
        details = list(session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "triage.update")))
    assert details[0] == "fields=verification,act_types,perpetrator,un_link,country,urgent"
    assert details[1] == "fields=verification"
    assert_audit_intact(database)


def test_triage_refuses_values_outside_the_lists_and_stores_nothing(desk_app, desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"})
    for bad in (
        {"verification": "certain"},
        {"act_types": ["<script>"]},
        {"country": "other", "country_other": "x" * 201},
        {"country": "Atlantis"},
    ):
        response = post(desk_client, desk_app, filed.case_id, "/triage", {"verification": "credible", **bad})
        assert response.status_code == 400
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).triage_envelope is None
    assert "triage.update" not in actions(database, filed.case_id)


def test_triage_rebuilds_the_inbox_index_when_it_exists(desk_app, desk_client, database, settings) -> None:
    from cases import inbox_index as index
    from crypto.inbox_index import EntryCipher

    filed = file_case(database, settings, {"what_happened": "x", "country": "Reported", "consent_act": "yes"})
    post(
        desk_client,
        desk_app,
        filed.case_id,
        "/triage",
        {"verification": "credible", "country": "other", "country_other": "Triaged"},
    )
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        admin_worker = session.scalars(select(Caseworker).where(Caseworker.username == "admin")).one()
        ring = keyring.unlock(session, admin_worker, ADMIN_PASSWORD)
        stored = index.open_entry(EntryCipher(index.index_key(session, ring)), case.id, case.index_blob)
    # Stored by the triage itself (not on a later inbox read), and built from this very triage.
    assert stored is not None
    assert stored["country"] == "Triaged" and stored["verification"] == "credible"
    assert stored["t"] == index.triage_mark(case.triage_envelope)
    post(desk_client, desk_app, filed.case_id, "/referrals", {"to": "Partner", "on": "2024-05-02"})
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        stored = index.open_entry(EntryCipher(index.index_key(session, ring)), case.id, case.index_blob)
    assert stored is not None and stored["t"] == index.triage_mark(case.triage_envelope)


def test_referral_needs_the_reporters_consent(desk_app, desk_client, database, settings) -> None:
    refused = file_case(database, settings, {"what_happened": "x", "consent_act": "no"})
    silent = file_case(database, settings, {"what_happened": "x"})
    for case_id in (refused.case_id, silent.case_id):
        response = post(
            desk_client, desk_app, case_id, "/referrals", {"to": "UN Special Rapporteur", "on": "2024-05-02"}
        )
        assert response.status_code == 409
        assert "did NOT consent" in response.get_data(as_text=True)
        with database.session() as session:
            assert session.get_one(Case, case_id).triage_envelope is None, "nothing stored"
        assert "referral.refused" in actions(database, case_id)
        assert "referral.add" not in actions(database, case_id)

    allowed = file_case(database, settings, {"what_happened": "x", "consent_act": "yes", "consent_authorities": "no"})
    to_authorities = {"to": "Ministry of Justice", "on": "2024-05-02", "authorities": "1"}
    response = post(desk_client, desk_app, allowed.case_id, "/referrals", to_authorities)
    assert response.status_code == 409 and "authorities" in response.get_data(as_text=True)
    with database.session() as session:
        assert session.get_one(Case, allowed.case_id).triage_envelope is None
    response = post(
        desk_client, desk_app, allowed.case_id, "/referrals", {"to": "UN Special Rapporteur", "on": "2024-05-02"}
    )
    assert response.status_code == 303
    assert (
        post(desk_client, desk_app, allowed.case_id, "/referrals/0", {"outcome": "Raised in a letter"}).status_code
        == 303
    )
    assert post(desk_client, desk_app, allowed.case_id, "/referrals/5", {"outcome": "x"}).status_code == 404
    assert post(desk_client, desk_app, allowed.case_id, "/referrals", {"to": "x", "on": "May 2024"}).status_code == 400
    page = desk_client.get(f"/cases/{allowed.case_id}").get_data(as_text=True)
    assert "UN Special Rapporteur" in page and "Raised in a letter" in page and "2024-05-02" in page
    assert actions(database, allowed.case_id).count("referral.add") == 1
    assert "referral.update" in actions(database, allowed.case_id)
    assert_audit_intact(database)


def test_assignment_to_staff_or_nobody_never_an_analyst(desk_app, desk_client, database, settings) -> None:
    bob = add_worker(database, "bob", Role.CASEWORKER)
    ana = add_worker(database, "ana", Role.ANALYST)
    filed = file_case(database, settings, {"what_happened": "x"})
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert f'<option value="{bob}"' in page and f'<option value="{ana}"' not in page
    assert post(desk_client, desk_app, filed.case_id, "/assign", {"to": str(bob)}).status_code == 303
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).assigned_to == bob
    assert (
        "bob"
        in html.unescape(desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)).split("Assigned to")[1][:40]
    )
    assert post(desk_client, desk_app, filed.case_id, "/assign", {"to": str(ana)}).status_code == 400
    assert post(desk_client, desk_app, filed.case_id, "/assign", {"to": "x"}).status_code == 400
    assert post(desk_client, desk_app, filed.case_id, "/assign", {"to": ""}).status_code == 303
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).assigned_to is None
        assert list(
            session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "case.assign").order_by(AuditEvent.id))
        ) == [f"to={bob}", "to=nobody"]


# --- the reporter's side: status, replies; and notes ------------------------------------------


def test_status_change_and_reply_reach_the_reporter(desk_app, desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"})
    explanation, answer = f"We are checking. {CANARY}", f"Are you safe? {CANARY}"
    response = post(
        desk_client, desk_app, filed.case_id, "/status", {"status": "under_review", "explanation": explanation}
    )
    assert response.status_code == 303
    assert post(desk_client, desk_app, filed.case_id, "/reply", {"text": answer}).status_code == 303
    assert post(desk_client, desk_app, filed.case_id, "/status", {"status": "finished"}).status_code == 400
    assert post(desk_client, desk_app, filed.case_id, "/reply", {"text": "  "}).status_code == 400

    assert filed.token is not None
    derived = token.derive(filed.token, settings.pepper(), settings.argon2)
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        seen = conversation.view(session, case, derived.reporter)
        assert case.status is Status.UNDER_REVIEW
    assert [(s.status, s.explanation) for s in seen.timeline] == [
        (Status.RECEIVED, None),
        (Status.UNDER_REVIEW, explanation),
    ]
    assert [(e.direction, e.text) for e in seen.thread] == [(Direction.TO_REPORTER, answer)]
    assert_no_canary_at_rest(database, settings, CANARY)
    page = html.unescape(desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True))
    assert explanation in page and answer in page and "Reply from admin" in page
    assert actions(database, filed.case_id).count("status.change") == 1
    assert "reply.send" in actions(database, filed.case_id)
    assert_audit_intact(database)


def test_a_deleted_reply_channel_disables_replies_and_explanations(desk_app, desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"})
    with database.session() as session:
        conversation.delete_channel(session, session.get_one(Case, filed.case_id))
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "deleted their reply channel" in page
    assert 'name="explanation"' not in page and 'id="reply-text"' not in page
    assert post(desk_client, desk_app, filed.case_id, "/reply", {"text": "hello"}).status_code == 409
    response = post(desk_client, desk_app, filed.case_id, "/status", {"status": "closed", "explanation": "done"})
    assert response.status_code == 409
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).status is Status.RECEIVED
    assert post(desk_client, desk_app, filed.case_id, "/status", {"status": "closed"}).status_code == 303
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).status is Status.CLOSED


def test_notes_are_sealed_to_the_intake_key_and_shown(desk_app, desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"})
    assert (
        post(desk_client, desk_app, filed.case_id, "/notes", {"text": f"Called the lawyer. {CANARY}"}).status_code
        == 303
    )
    assert_no_canary_at_rest(database, settings, CANARY)
    with database.session() as session:
        note = session.scalar(select(Note).where(Note.case_id == filed.case_id))
        case = session.get_one(Case, filed.case_id)
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        ring = keyring.unlock(session, worker, ADMIN_PASSWORD)
        opened = open_envelope(ring.private_keys(), Purpose.NOTE, note.envelope, conversation.context(case, "note"))
        assert note.author_id == worker.id
    assert opened.decode() == f"Called the lawyer. {CANARY}"
    assert f"Called the lawyer. {CANARY}" in desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "note.add" in actions(database, filed.case_id)
    # Never shown to the reporter.
    assert filed.token is not None
    derived = token.derive(filed.token, settings.pepper(), settings.argon2)
    with database.session() as session:
        seen = conversation.view(session, session.get_one(Case, filed.case_id), derived.reporter)
    assert seen.thread == []


# --- files --------------------------------------------------------------------------------------


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>window.__xss=1</script></svg>'
PAGE = b"<!doctype html><script>window.__xss=1</script><h1>hello</h1>"


def _attachment_ids(database, case_id: str) -> dict[str, str]:
    """{file name: attachment id}, names read with the admin's keys."""
    from crypto.stream import open_manifest

    with database.session() as session:
        worker = session.scalar(select(Caseworker).where(Caseworker.username == "admin"))
        keys = keyring.unlock(session, worker, ADMIN_PASSWORD).private_keys()
        rows = session.scalars(select(Attachment).where(Attachment.case_id == case_id))
        return {open_manifest(keys, a.manifest).name: a.id for a in rows}


def test_downloads_are_opaque_attachments_whatever_their_type(desk_app, desk_client, database, settings) -> None:
    big = bytes(range(256)) * (2 * CHUNK_SIZE // 256 + 7)  # three chunks
    files = [
        ("notes.bin", big, "application/pdf"),
        ("page.html", PAGE, "text/html"),
        ("image.svg", SVG, "image/svg+xml"),
    ]
    filed = file_case(database, settings, {"what_happened": "x"}, files=files)
    ids = _attachment_ids(database, filed.case_id)
    for name, data, _kind in files:
        response = desk_client.get(f"/cases/{filed.case_id}/files/{ids[name]}")
        assert response.status_code == 200
        assert response.data == data
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response.headers["Cache-Control"]
        assert response.headers["Content-Security-Policy"].startswith("sandbox")
        assert response.headers["Content-Length"] == str(len(data))
    assert actions(database, filed.case_id).count("file.download") == 3
    assert_audit_intact(database)


def test_a_hostile_file_name_is_escaped_in_the_page_and_safe_in_the_header(desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"}, files=[(HOSTILE_NAME, PAGE, "text/html")])
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "<img src=x" not in page
    assert str(markupsafe.escape(HOSTILE_NAME)) in page
    attachment_id = _attachment_ids(database, filed.case_id)[HOSTILE_NAME]
    header = desk_client.get(f"/cases/{filed.case_id}/files/{attachment_id}").headers["Content-Disposition"]
    assert header == (
        'attachment; filename="img_srcx_onerroralert1.html"; '
        "filename*=UTF-8''%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html"
    )


@pytest.mark.parametrize(
    "name, safe",
    [
        ("Überweisung März.pdf", "Uberweisung_Marz.pdf"),
        ("../../etc/passwd", "etcpasswd"),
        ("تقرير.txt", "txt"),
        ("a\r\nSet-Cookie: x=1", "a_Set-Cookie_x1"),
        ("", "attachment"),
        ("...", "attachment"),
    ],
)
def test_download_names_are_ascii_and_headers_cannot_be_split(name: str, safe: str) -> None:
    assert ascii_filename(name) == safe
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header and header.count('"') == 2
    assert header.isascii()


def test_an_incomplete_upload_is_refused_with_a_clear_message(desk_client, database, settings) -> None:
    filed = file_case(database, settings, {"what_happened": "x"})
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        manifest, chunks = seal_file(current(session).public_key, b"x" * (CHUNK_SIZE + 1), "half.txt", "text/plain")
        attachment = reports.start_attachment(session, case, manifest, len(chunks))
        reports.put_chunk(session, FilesystemBlobStore(settings.blob_dir), attachment, 0, chunks[0])
        attachment_id = attachment.id
    page = desk_client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "Incomplete upload" in page and f"/files/{attachment_id}" not in page
    response = desk_client.get(f"/cases/{filed.case_id}/files/{attachment_id}")
    assert response.status_code == 409 and "never finished uploading" in response.get_data(as_text=True)
    assert "Content-Disposition" not in response.headers
    assert desk_client.get(f"/cases/{filed.case_id}/files/nosuchfile").status_code == 404
    other = file_case(database, settings, {"what_happened": "y"})
    assert desk_client.get(f"/cases/{other.case_id}/files/{attachment_id}").status_code == 404  # not this case's file


def test_a_tampered_file_is_refused_before_any_byte_is_sent(desk_client, database, settings) -> None:
    filed = file_case(
        database, settings, {"what_happened": "x"}, files=[("a.txt", b"y" * (CHUNK_SIZE + 5), "text/plain")]
    )
    attachment_id = _attachment_ids(database, filed.case_id)["a.txt"]
    blobs = FilesystemBlobStore(settings.blob_dir)
    key = f"att/{attachment_id}/{1:08d}"
    sealed = bytearray(blobs.get(key))
    sealed[0] ^= 1
    blobs.put(key, bytes(sealed))
    response = desk_client.get(f"/cases/{filed.case_id}/files/{attachment_id}")
    assert response.status_code == 409 and "Content-Disposition" not in response.headers
    assert "file.download" not in actions(database, filed.case_id)


# --- roles ----------------------------------------------------------------------------------------


def test_an_analyst_gets_403_on_every_case_page_and_action(desk_app, database, settings) -> None:
    add_worker(database, "ana", Role.ANALYST)
    filed = file_case(
        database, settings, {"what_happened": "x", "consent_act": "yes"}, files=[("a.txt", b"a", "text/plain")]
    )
    attachment_id = _attachment_ids(database, filed.case_id)["a.txt"]
    analyst = logged_in_client(desk_app, database, "ana", PASSWORD)
    base = f"/cases/{filed.case_id}"
    assert analyst.get(base).status_code == 403
    assert analyst.get(f"{base}/files/{attachment_id}").status_code == 403
    csrf = csrf_of(analyst, desk_app, base)  # the 403 page still carries the analyst's own logout form
    for path in ("/triage", "/assign", "/referrals", "/referrals/0", "/status", "/reply", "/notes"):
        data = {
            "csrf": csrf,
            "text": "x",
            "status": "closed",
            "to": "x",
            "on": "2024-01-01",
            "verification": "credible",
        }
        assert analyst.post(base + path, data=data).status_code == 403, path
    with database.session() as session:
        case = session.get_one(Case, filed.case_id)
        assert case.status is Status.RECEIVED and case.triage_envelope is None and case.assigned_to is None
        assert session.scalars(select(Note)).all() == []
        denied = session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "access.denied")).all()
    assert len(denied) == 10
    assert actions(database, filed.case_id) == []  # nothing was viewed or decrypted
    assert_audit_intact(database)


def test_without_the_keys_nothing_is_shown_and_nothing_overwritten(desk_app, desk_client, database, settings) -> None:
    add_worker(database, "newbie", Role.CASEWORKER, grant=False)
    filed = file_case(database, settings, {"what_happened": CANARY, "consent_act": "yes"})
    assert (
        post(desk_client, desk_app, filed.case_id, "/referrals", {"to": "Partner", "on": "2024-05-02"}).status_code
        == 303
    )
    with database.session() as session:
        before = session.get_one(Case, filed.case_id).triage_envelope
    newbie = logged_in_client(desk_app, database, "newbie", PASSWORD)
    page = newbie.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "cannot be opened with your keys" in page and CANARY not in page
    assert "treat every consent as NOT given" in page
    # Re-sealing a triage it cannot read would drop the referral: refused.
    assert post(newbie, desk_app, filed.case_id, "/triage", {"verification": "credible"}).status_code == 409
    assert post(newbie, desk_app, filed.case_id, "/referrals", {"to": "x", "on": "2024-05-02"}).status_code == 409
    with database.session() as session:
        assert session.get_one(Case, filed.case_id).triage_envelope == before
    assert actions(database, filed.case_id)[-1] == "referral.refused"


def test_every_action_leaves_exactly_its_audit_event(desk_app, desk_client, database, settings) -> None:
    filed = file_case(
        database, settings, {"what_happened": "x", "consent_act": "yes"}, files=[("a.txt", b"a", "text/plain")]
    )
    attachment_id = _attachment_ids(database, filed.case_id)["a.txt"]
    csrf = csrf_of(desk_client, desk_app, f"/cases/{filed.case_id}")  # one view, one decryption
    steps = [
        ("/triage", {"verification": "credible", "country": "other", "country_other": CANARY}),
        ("/referrals", {"to": CANARY, "on": "2024-05-02"}),
        ("/referrals/0", {"outcome": CANARY}),
        ("/assign", {"to": str(installed_admin_id(database))}),
        ("/status", {"status": "under_review", "explanation": CANARY}),
        ("/reply", {"text": CANARY}),
        ("/notes", {"text": CANARY}),
    ]
    for path, data in steps:
        assert desk_client.post(f"/cases/{filed.case_id}{path}", data={"csrf": csrf, **data}).status_code == 303, path
    assert desk_client.get(f"/cases/{filed.case_id}/files/{attachment_id}").status_code == 200
    assert actions(database, filed.case_id) == [
        "case.view",
        "case.decrypt",
        "triage.update",
        "referral.add",
        "referral.update",
        "case.assign",
        "status.change",
        "reply.send",
        "note.add",
        "file.download",
    ]
    assert_no_canary_at_rest(database, settings, CANARY)
    assert_audit_intact(database)


def installed_admin_id(database) -> int:
    with database.session() as session:
        return session.scalar(select(Caseworker.id).where(Caseworker.username == "admin"))


def test_a_case_that_does_not_exist_is_404(desk_client) -> None:
    assert desk_client.get("/cases/nosuchcase").status_code == 404
    assert desk_client.get("/cases/" + "x" * 40).status_code == 404
