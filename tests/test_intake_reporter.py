"""The reporter side without a browser: validation, limits, abuse controls, upload API."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest
from sqlalchemy import func, select

from cases import proof_of_work as pow_module
from cases.config import Settings
from cases.limits import Busy, Slots
from cases.models import Case
from cases.proof_of_work import PowError, ProofOfWork, leading_zero_bits
from cases.questionnaire import DETAILS, QUICK_NAMES
from intake import context

from .reporter_helpers import b64, solve


@pytest.fixture
def intake_settings(settings: Settings, forms_without_wait: None) -> Settings:
    return dataclasses.replace(settings, pow_bits=4, max_file_bytes=1000, max_files=2)


def _form_fields(intake_client, path: str = "/en/") -> dict[str, str]:
    """The hidden fields of a page's first form (a no-JS post pays with the form's age)."""
    html = intake_client.get(path).get_data(as_text=True)
    return {name: value for name, value in re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', html)}


def _json_fields(intake_client, path: str = "/en/") -> tuple[dict[str, str], dict[str, str]]:
    """(body fields, headers) for a JSON post as app.js makes it: the JS challenge, solved."""
    html = intake_client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'name="(csrf|nonce)" value="([^"]*)"', html))
    challenge = re.search(r'data-challenge="([^"]*)"', html).group(1)
    body = {"challenge": challenge, "solution": solve(challenge)}
    if "nonce" in fields:
        body["nonce"] = fields["nonce"]
    return body, {"X-CSRFToken": fields["csrf"]}


def _count(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Case))


def test_the_form_asks_the_three_quick_questions_and_nothing_else(intake_client) -> None:
    html = intake_client.get("/en/").get_data(as_text=True)
    asked = set(re.findall(r'<(?:input|textarea|select)[^>]* name="([a-z_]+)"', html))
    assert asked - {"csrf", "nonce", "challenge", "solution", "files", "keep_original"} == set(QUICK_NAMES)
    assert not any(f'name="{name}"' in html for name in DETAILS)
    assert html.index('name="danger"') < html.index('name="what_happened"') < html.index('name="files"')
    assert html.index('name="consent_act"') < html.index('id="send"')
    assert re.search(r'<li aria-current="step">1 Tell us</li>', html)


def test_missing_account_is_explained_and_nothing_is_lost(intake_client, database) -> None:
    fields = _form_fields(intake_client)
    response = intake_client.post("/en/report", data={**fields, "danger": "yes", "consent_act": "no"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "It is the only question you must answer" in html
    assert 'aria-invalid="true"' in html and re.search(r'aria-describedby="[^"]*what_happened-error', html)
    assert 'name="danger" value="yes" checked' in html and 'name="consent_act" value="no" checked' in html
    assert _count(database) == 0


def test_french_errors_are_in_french(intake_client) -> None:
    fields = _form_fields(intake_client, "/fr/")
    html = intake_client.post("/fr/report", data=fields).get_data(as_text=True)
    assert "It is the only question you must answer" not in html
    assert 'lang="fr"' in html


def test_a_missing_csrf_value_stores_nothing(intake_client, database) -> None:
    fields = _form_fields(intake_client)
    fields.pop("csrf")
    response = intake_client.post("/en/report", data={**fields, "what_happened": "x"})
    assert response.status_code == 400 and _count(database) == 0


def test_a_file_over_the_limit_is_explained(intake_client, database) -> None:
    import io

    fields = _form_fields(intake_client)
    data = {**fields, "what_happened": "x", "files": (io.BytesIO(b"x" * 2000), "big.bin")}
    response = intake_client.post("/en/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "larger than" in response.get_data(as_text=True)
    assert _count(database) == 0


def test_no_js_report_is_filed_once_per_submission(intake_client, database) -> None:
    fields = _form_fields(intake_client)
    first = intake_client.post("/en/report", data={**fields, "what_happened": "They came at night."})
    assert first.status_code == 200
    token = re.search(r'id="token"[^>]*>(.*?)</p>', first.get_data(as_text=True), re.S).group(1)
    again = intake_client.post("/en/report", data={**fields, "what_happened": "They came at night."})
    assert re.sub(r"\D", "", token) in re.sub(r"\D", "", again.get_data(as_text=True))
    assert _count(database) == 1


def test_status_lookup_answers_busy_rather_than_queueing(intake_app, intake_client) -> None:
    slots: Slots = context.intake(intake_app).slots
    fields = _form_fields(intake_client, "/en/status")
    with slots.take(), slots.take():  # every argon2 slot is in use
        response = intake_client.post("/en/status", data={**fields, "token": "1234 5678 9012 3456 7890"})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "very busy" in response.get_data(as_text=True)


def test_token_typos_and_lengths_are_explained(intake_client) -> None:
    from crypto import token as tokens

    good = tokens.generate()
    typo = good[:3] + str((int(good[3]) + 1) % 10) + good[4:]
    for typed, expected in ((typo, "typo"), ("1234", "20 digits")):
        fields = _form_fields(intake_client, "/en/status")
        html = intake_client.post("/en/status", data={**fields, "token": typed}).get_data(as_text=True)
        assert expected in html


def test_upload_api_needs_the_upload_capability(intake_client, database) -> None:
    from cases.intake_keys import current
    from crypto.envelope import Purpose, seal
    from crypto.stream import seal_file

    with database.session() as session:
        public = current(session).public_key
    manifest, chunks = seal_file(public, b"evidence", "a.txt", "text/plain")
    fields, headers = _json_fields(intake_client)
    body: dict[str, object] = {**fields, "report": b64(seal(public, Purpose.REPORT, b"{}"))}
    body |= {"urgent": False, "files": [{"manifest": b64(manifest), "chunks": 1}]}
    answer = intake_client.post("/en/api/report", json=body, headers=headers).get_json()
    assert "uploads" in answer, answer
    upload = answer["uploads"][0]
    url = f"/api/upload/{upload['id']}"
    assert intake_client.get(url, headers={"X-Upload-Secret": "guess"}).status_code == 404
    assert intake_client.put(url + "/0", data=chunks[0], headers={"X-Upload-Secret": "guess"}).status_code == 404
    good = {"X-Upload-Secret": upload["secret"]}
    assert intake_client.get(url, headers=good).get_json() == {"have": [], "chunks": 1}
    assert intake_client.put(url + "/1", data=chunks[0], headers=good).status_code == 400  # out of range
    assert intake_client.put(url + "/0", data=b"x" * 70_000, headers=good).status_code == 413  # too big
    assert intake_client.put(url + "/0", data=chunks[0], headers=good).get_json() == {"complete": True}
    assert intake_client.get(url, headers=good).get_json() == {"have": [0], "chunks": 1}


def test_proof_of_work_is_single_use_and_bound_to_this_server(database) -> None:
    work = ProofOfWork(b"k" * 32, base_bits=6, database=database)
    challenge = work.challenge()
    solution = solve(challenge)
    work.verify(challenge, solution, form_allowed=False)
    with pytest.raises(PowError, match="already used"):
        work.verify(challenge, solution, form_allowed=False)
    other = ProofOfWork(b"j" * 32, base_bits=6, database=database)
    with pytest.raises(PowError, match="not issued here"):
        other.verify(challenge, solution, form_allowed=False)
    fresh = work.challenge()
    wrong = next(
        str(n) for n in range(1000) if leading_zero_bits(hashlib.sha256(f"{fresh}:{n}".encode()).digest()) == 0
    )
    with pytest.raises(PowError, match="insufficient"):
        work.verify(fresh, wrong, form_allowed=False)


def test_proof_of_work_expires(monkeypatch, database) -> None:
    import time

    work = ProofOfWork(b"k" * 32, base_bits=2, database=database)
    challenge = work.challenge()
    later = time.time() + pow_module.TTL_SECONDS + 1
    monkeypatch.setattr("cases.proof_of_work.time.time", lambda: later)
    with pytest.raises(PowError, match="expired"):
        work.verify(challenge, solve(challenge), form_allowed=False)


def test_difficulty_rises_under_load_and_nothing_identifies_clients(database) -> None:
    work = ProofOfWork(b"k" * 32, base_bits=1, database=database)
    assert work.current_bits() == 1
    for _ in range(pow_module.CALM_REQUESTS * 4):
        challenge = work.challenge()
        work.verify(challenge, solve(challenge), form_allowed=False)
    assert work.current_bits() > 1
    assert not any("addr" in name or name == "ip" for name in vars(work))


def test_slots_refuse_rather_than_queue() -> None:
    slots = Slots(1)
    with slots.take(), pytest.raises(Busy), slots.take(wait=0.01):
        pass
