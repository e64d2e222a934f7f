"""Country from a list: ISO 3166-1 codes named from CLDR, free text read as its code, and the
desk grouping, filtering and counting by code (issue 9)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from cases import countries, inbox_index, keyring, report_schema, statistics, triage
from cases.languages import LANGUAGES
from cases.models import Case, Caseworker, ReportDetails
from crypto.inbox_index import EntryCipher

from .conftest import ADMIN_PASSWORD
from .desk_helpers import csrf_of
from .factories import file_case
from .reporter_helpers import (
    PageFields,
    details_page,
    merged_answers,
    quick_report_with_details_no_js,
    send_details_no_js,
    token_of,
)

# -- the list -------------------------------------------------------------------------------------


def test_the_list_is_iso_countries_from_cldr() -> None:
    assert 245 <= len(countries.CODES) <= 255
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in countries.CODES)
    assert {"KE", "UA", "PS", "TW", "EH", "XK", "AQ"} <= countries.CODES
    # Regions, groupings, the unknown region, pseudo-locales and exceptionally reserved codes.
    assert not {"001", "150", "419", "ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "IC", "EA", "AC"} & countries.CODES
    for lang in LANGUAGES:
        listed = countries.choices(lang)
        assert {code for code, _ in listed} == countries.CODES
        assert all(name and name != code for code, name in listed)


@pytest.mark.parametrize(
    ("lang", "before", "after"),
    [
        ("en", "Åland Islands", "Albania"),  # accents do not send a name to the end
        ("fr", "Érythrée", "Espagne"),
        ("fr", "Afrique du Sud", "Albanie"),
        ("es", "Níger", "Nigeria"),
        ("ru", "Австралия", "Япония"),
        ("ar", "إثيوبيا", "كينيا"),  # hamza forms sort with alif, at the start
        ("zh", "中国", "肯尼亚"),  # radical-and-stroke order (the Unified Ideographs block)
    ],
)
def test_names_are_in_each_languages_order(lang: str, before: str, after: str) -> None:
    names = [name for _, name in countries.choices(lang)]
    assert names.index(before) < names.index(after)


def test_kenya_is_named_in_each_language() -> None:
    named = {lang: countries.name("KE", lang) for lang in LANGUAGES}
    assert named == {"en": "Kenya", "fr": "Kenya", "es": "Kenia", "ar": "كينيا", "zh": "肯尼亚", "ru": "Кения"}
    assert countries.label("KE", "fr") == "Kenya (KE)" and countries.label("Atlantis") == "Atlantis"


# -- matching free text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Kenya", "KE"),
        ("  KENYA ", "KE"),
        ("Кения", "KE"),
        ("肯尼亚", "KE"),
        ("كينيا", "KE"),
        ("Kenia", "KE"),
        ("Cote d’Ivoire", None),  # accents are not ignored: a near miss stays free text
        ("Côte d'Ivoire", "CI"),  # either apostrophe
        ("Côte d’Ivoire", "CI"),
        ("Ｋｅｎｙａ", "KE"),  # NFKC: full-width letters
        ("Royaume-Uni", "GB"),
        ("Estados  Unidos", "US"),
        ("Atlantis", None),
        ("Nairobi, Kenya", None),
        ("", None),
    ],
)
def test_free_text_that_names_a_country_is_read_as_its_code(text: str, code: str | None) -> None:
    assert countries.match(text) == code
    assert countries.canonical(text) == (code or text.strip())


def test_no_name_means_two_countries() -> None:
    for lang in LANGUAGES:
        for code, name in countries.choices(lang):
            assert countries.match(name) == code, (lang, name)


@given(st.text(max_size=60))
def test_canonical_is_idempotent(text: str) -> None:
    once = countries.canonical(text)
    assert countries.canonical(once) == once
    assert countries.resolve(once) == once


def test_resolve_prefers_the_list_then_the_written_place() -> None:
    assert countries.resolve("KE", "near the border") == "KE"
    assert countries.resolve("other", "Kenya") == "KE"
    assert countries.resolve("other", "Atlantis") == "Atlantis"
    assert countries.resolve("other", "") == ""
    assert countries.resolve("Atlantis", "") == "Atlantis"  # a report sealed before the list
    assert countries.resolve(["KE"], 3) == ""


# -- the report as the desk reads it --------------------------------------------------------------


def _answers(**answers: str) -> dict:
    return dict(report_schema.parse(json.dumps({"v": 1, "answers": answers}).encode()).answers)


def test_reports_are_read_with_one_country_value() -> None:
    assert _answers(country="Кения") == {"country": "KE"}  # sealed before the list
    assert _answers(country="KE", country_other="near Lokichogio") == {
        "country": "KE",
        "country_other": "near Lokichogio",
    }
    assert _answers(country="other", country_other="Atlantis") == {"country": "Atlantis"}
    assert _answers(country="other", country_other="kenya") == {"country": "KE"}
    assert _answers(country="other") == {}


# -- the form -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_the_form_offers_every_country_in_the_readers_language(intake_client, lang: str, forms_without_wait) -> None:
    html = _details(intake_client, lang)  # the country is asked on the details page (quick path, step 3)
    select_html = re.search(r'<select id="f-country" name="country"[^>]*>(.*?)</select>', html, re.S)
    assert select_html, "the country list is on the form"
    values = re.findall(r"<option value=\"?([A-Za-z]*)\"?[ >]", select_html.group(1))
    assert values[0] == "" and values[-1] == "other"
    assert values[1:-1] == [code for code, _ in countries.choices(lang)]
    assert f">{countries.name('KE', lang)}<" in select_html.group(1) or f">{countries.name('KE', lang)}\n" in html
    assert 'name="country_other"' in html


def _details(intake_client, lang: str = "en") -> str:
    """A quick report without JavaScript, then the details page its receipt leads to."""
    page = PageFields.of(intake_client.get(f"/{lang}/").get_data(as_text=True))
    receipt = intake_client.post(f"/{lang}/report", data={**page.no_js_form(), "what_happened": "x"})
    html = receipt.get_data(as_text=True)
    return details_page(intake_client, lang, html, token_of(html))


@pytest.mark.usefixtures("forms_without_wait")
def test_a_country_chosen_without_javascript_is_sealed_as_its_code(intake_client, database, settings) -> None:
    _token, _status = quick_report_with_details_no_js(
        intake_client, "en", {"what_happened": "x"}, {"country": "KE", "country_other": "near the border"}
    )
    with database.session() as session:
        case_id = session.scalars(select(Case.id)).one()
    answers = merged_answers(database, ADMIN_PASSWORD, case_id)
    assert answers["country"] == "KE"
    assert answers["country_other"] == "near the border"


@pytest.mark.usefixtures("forms_without_wait")
def test_a_value_not_in_the_list_is_refused_with_a_plain_message(intake_client, database) -> None:
    shown = _details(intake_client, "fr")
    token = re.search(r'name="token" value="([^"]*)"', shown).group(1)
    html = send_details_no_js(intake_client, "fr", shown, token, {"country": "Kenya"}).get_data(as_text=True)
    assert "Please choose one of the answers shown." not in html  # in French
    assert re.search(r'id="country-error" role="alert"', html)
    with database.session() as session:
        assert session.scalars(select(ReportDetails.id)).all() == []


# -- the desk -------------------------------------------------------------------------------------


def test_the_case_names_the_country_in_the_caseworkers_language(desk_app, desk_client, database) -> None:
    case_id = file_case(database, answers={"what_happened": "x", "country": "Kenia"}).case_id
    html = desk_client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Kenya (KE)" in html
    assert "<option value=KE selected>Kenya (KE)" in html  # the triage starts from the code
    with database.session() as session:
        worker = session.scalars(select(Caseworker).where(Caseworker.username == "admin")).one()
        worker.language = "ru"
    html = desk_client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Кения (KE)" in html


def test_triage_overrides_the_country_with_a_code_or_a_place(desk_app, desk_client, database) -> None:
    case_id = file_case(database, answers={"what_happened": "x", "country": "KE"}).case_id
    token = csrf_of(desk_client, desk_app, f"/cases/{case_id}")
    post = {"csrf": token, "verification": "credible", "country": "other", "country_other": "Atlantis"}
    assert desk_client.post(f"/cases/{case_id}/triage", data=post).status_code in (200, 302, 303)
    html = desk_client.get("/").get_data(as_text=True)
    assert "<td>Atlantis</td>" in html and "<td>Kenya (KE)</td>" not in html
    post = {"csrf": token, "verification": "credible", "country": "UG", "country_other": ""}
    desk_client.post(f"/cases/{case_id}/triage", data=post)
    assert "<td>Uganda (UG)</td>" in desk_client.get("/").get_data(as_text=True)
    bad = {"csrf": token, "country": "Uganda"}
    assert desk_client.post(f"/cases/{case_id}/triage", data=bad).status_code == 400


def test_a_stored_triage_with_free_text_is_read_as_its_code() -> None:
    assert triage.normalise({"country": "Ouganda"}, strict=False).country == "UG"
    assert triage.normalise({"country": "Atlantis"}, strict=False).country == "Atlantis"
    assert triage.suggested({"country": "KE"}).country == "KE"
    with pytest.raises(triage.Invalid):
        triage.normalise({"country": "Uganda", "country_other": ""})


def test_index_entries_of_the_free_text_version_are_rebuilt_as_codes(desk_client, database) -> None:
    case_id = file_case(database, answers={"what_happened": "x", "country": "Кения"}).case_id
    with database.session() as session:
        worker = session.scalars(select(Caseworker).where(Caseworker.username == "admin")).one()
        ring = keyring.unlock(session, worker, ADMIN_PASSWORD)
        cipher = EntryCipher(inbox_index.index_key(session, ring))
        case = session.get_one(Case, case_id)
        old = {"v": 2, "country": "Кения", "act_types": [], "un_link": [], "t": ""}
        case.index_blob = cipher.seal(case_id, json.dumps(old).encode())
    assert "<td>Kenya (KE)</td>" in desk_client.get("/").get_data(as_text=True)
    with database.session() as session:
        case = session.get_one(Case, case_id)
        entry = inbox_index.open_entry(cipher, case_id, case.index_blob)
        assert entry is not None and entry["v"] == inbox_index.ENTRY_VERSION and entry["country"] == "KE"


def test_statistics_group_every_spelling_of_a_country_by_its_code() -> None:
    spellings = ["KE", "Kenya", "kenya", "Кения", "肯尼亚", "Kenia"]
    cases = [
        statistics.facts(dt.date(2025, 1, 2), {"country": c, "consent_publish": "named"}, {"verification": "credible"})
        for c in spellings
    ]
    cases += [
        statistics.facts(
            dt.date(2025, 1, 2),
            {"country": "other", "country_other": "Kenia", "consent_publish": "named"},
            {"verification": "credible", "country": ""},
        )
    ]
    aggregate = statistics.publish(cases, 5, dt.date(2025, 2, 1))
    assert dict(aggregate["tables"]["country"]) == {"KE": "7"}
    assert ["country", "Kenya (KE)", "7"] in statistics.csv_rows(aggregate)
