"""Help under stress: emergency contacts in the reporter's language, as links a thumb can use,
open without JavaScript wherever they may be needed, and metadata warnings for files the form
cannot clean."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

import intake
from cases.config import Settings
from intake.contacts import BadContacts

from .live import open_page, serve
from .reporter_helpers import details_page

CONTACTS = [
    {
        "name": {"en": "Defenders hotline", "fr": "Ligne d’urgence des défenseurs", "ar": "خط الطوارئ للمدافعين"},
        "region": {"en": "Worldwide", "fr": "Monde entier"},
        "phone": "+41 22 917 9000",
        "signal": "+41 79 000 11 22",
        "whatsapp": "+41 (79) 000-11-22",
        "sms": "+41 79 000 11 22",
    },
    {"name": "Réseau régional", "note": {"fr": "Demandez le service juridique"}, "phone": "112", "languages": ["fr"]},
    {"name": "Old style entry", "contact": "+1 555 0100"},
    {"name": "Old style text", "contact": "javascript:alert(1) <b>ask for Maria</b>"},
]


def _write(tmp_path: Path, contacts: object) -> Path:
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(contacts, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def intake_settings(settings: Settings, forms_without_wait: None, tmp_path: Path) -> Settings:
    return dataclasses.replace(settings, pow_bits=4, emergency_contacts_file=_write(tmp_path, CONTACTS))


def _fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|nonce|challenge|token)" value="([^"]*)"', html))


def _report(client, lang: str = "en", **answers: str) -> str:
    page = client.get(f"/{lang}/").get_data(as_text=True)
    response = client.post(f"/{lang}/report", data={**_fields(page), "what_happened": "They came at night.", **answers})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _token(receipt: str) -> str:
    found = re.search(r'id="token"[^>]*>(.*?)</p>', receipt)
    assert found is not None
    return re.sub(r"\D", "", found.group(1))


def _status(client, token: str) -> str:
    page = client.get("/en/status").get_data(as_text=True)
    return client.post("/en/status", data={**_fields(page), "token": token}).get_data(as_text=True)


def _details(html: str, element_id: str) -> str:
    found = re.search(rf'<details class="sos" id="{element_id}"[^>]*>', html)
    assert found is not None, f"no #{element_id}"
    return found.group(0)


def test_contacts_are_in_the_page_language_with_links_built_from_digits(intake_client) -> None:
    french = intake_client.get("/fr/").get_data(as_text=True)
    assert "Ligne d’urgence des défenseurs" in french and "Monde entier" in french
    assert "Réseau régional" in french and "Demandez le service juridique" in french
    assert 'href="tel:+41229179000"' in french
    assert 'href="sms:+41790001122"' in french
    assert 'href="https://signal.me/#p/+41790001122"' in french
    assert 'href="https://wa.me/41790001122"' in french
    assert 'href="tel:112"' in french
    assert '<span dir="ltr">+41 (79) 000-11-22</span>' in french  # shown as written, left to right

    arabic = intake_client.get("/ar/").get_data(as_text=True)
    assert "خط الطوارئ للمدافعين" in arabic and "Defenders hotline" not in arabic
    assert "Réseau régional" not in arabic  # only on the French pages
    english = intake_client.get("/en/").get_data(as_text=True)
    assert "Defenders hotline" in english and "Worldwide" in english


def test_the_first_format_still_works_and_free_text_never_becomes_a_link(intake_client) -> None:
    html = intake_client.get("/en/").get_data(as_text=True)
    assert "Old style entry" in html and 'href="tel:+15550100"' in html
    assert "javascript:alert(1) &lt;b&gt;ask for Maria&lt;/b&gt;" in html  # escaped text
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert not any("javascript" in href or "Maria" in href for href in hrefs)
    links = r"(tel:|sms:)\+?\d+|https://(signal\.me/#p/\+|wa\.me/)\d+"
    icons = r"#i-[a-z0-9-]+"  # an icon's <use> of its symbol in the same page (intake.icons)
    assert all(re.fullmatch(rf"{links}|/.*|https://www\.wikipedia\.org/|data:,|{icons}", h) for h in hrefs), hrefs


@pytest.mark.parametrize(
    "contacts",
    [
        [{"name": "x", "phone": "javascript:alert(1)"}],
        [{"name": "x", "phone": '+1 555 0100" onclick="x'}],
        [{"name": "x", "whatsapp": "0790001122"}],  # wa.me needs the international form
        [{"name": "x"}],
        [{"name": {"xx": "x"}, "phone": "112"}],
        [{"name": "x", "phone": "112", "languages": ["fr"]}],  # the other pages would have none
        [{"name": "x", "phone": "112", "url": "https://example.org"}],
        {"name": "x", "phone": "112"},
        [],
    ],
)
def test_a_bad_contacts_file_stops_the_intake_at_start(settings, database, installed, tmp_path, contacts) -> None:
    bad = dataclasses.replace(settings, emergency_contacts_file=_write(tmp_path, contacts))
    with pytest.raises(BadContacts, match="RRI_EMERGENCY_CONTACTS"):
        intake.create_app(bad, database)


def test_the_built_in_contact_is_translated_and_tap_to_call(settings, database, installed) -> None:
    client = intake.create_app(settings, database).test_client()
    english = client.get("/en/").get_data(as_text=True)
    assert "Front Line Defenders: 24-hour emergency line" in english
    assert 'href="tel:+35312100489"' in english and '<span dir="ltr">+353 1 210 0489</span>' in english
    for lang in ("fr", "es", "ar", "zh", "ru"):
        html = client.get(f"/{lang}/").get_data(as_text=True)
        assert "24-hour emergency line" not in html and "They answer in English" not in html, lang
        assert 'href="tel:+35312100489"' in html


def test_without_javascript_the_help_is_open_after_the_danger_and_situation_questions(intake_client) -> None:
    html = intake_client.get("/en/").get_data(as_text=True)
    assert " open" in _details(html, "emergency")
    # Right after the questions they answer, so a reporter reading down meets them there: danger
    # on the quick form, "Where are they now?" on the details page.
    assert html.index('id="q-danger"') < html.index('id="emergency"') < html.index('id="q-what_happened"')
    receipt = _report(intake_client)
    details = details_page(intake_client, "en", receipt, _token(receipt))
    assert " open" in _details(details, "emergency-situation")
    assert details.index('id="q-situation"') < details.index('id="emergency-situation"')
    assert details.index('id="emergency-situation"') < details.index('id="q-perpetrator"')


@pytest.mark.parametrize(
    ("answers", "shown", "text"),
    [
        ({"danger": "yes"}, True, "You said someone is in immediate danger"),
        ({"situation": "free", "danger": "no"}, False, ""),
    ],
)
def test_the_receipt_brings_up_help_when_the_report_needs_it(intake_client, answers, shown, text) -> None:
    receipt = _report(intake_client, **answers)
    block = re.search(r'<div class="urgent[^"]*" id="receipt-help"([^>]*)>(.*?)</div>', receipt, re.S)
    assert block is not None
    assert ("hidden" not in block.group(1)) is shown
    assert text in block.group(2)
    assert "Defenders hotline" in block.group(2)


def test_the_status_page_opens_the_help_for_an_urgent_case_and_keeps_it_at_hand_otherwise(intake_client) -> None:
    urgent = _status(intake_client, _token(_report(intake_client, danger="yes")))
    assert " open" in _details(urgent, "emergency") and 'href="tel:+41229179000"' in urgent
    calm = _status(intake_client, _token(_report(intake_client, danger="no")))
    assert " open" not in _details(calm, "emergency") and 'href="tel:+41229179000"' in calm
    lookup = intake_client.get("/en/status").get_data(as_text=True)
    assert " open" not in _details(lookup, "emergency") and "Defenders hotline" in lookup


def test_without_javascript_the_metadata_warning_is_next_to_the_file_input(intake_client) -> None:
    form = intake_client.get("/fr/").get_data(as_text=True)
    assert "Nous ne pouvons pas retirer les informations cachées des vidéos" in form
    assert 'aria-describedby="files-help files-metadata"' in form
    status = _status(intake_client, _token(_report(intake_client)))
    assert "We cannot remove hidden information from videos, audio, PDFs or office documents" in status


# In a real browser.


@pytest.fixture
def live_help(settings, database, installed, tmp_path):
    fast = dataclasses.replace(settings, pow_bits=4, emergency_contacts_file=_write(tmp_path, CONTACTS))
    with serve(intake.create_app(fast, database)) as url:
        yield url


def _live(url: str):
    return type("Live", (), {"url": url, "urls": [], "bodies": []})()


@pytest.mark.slow
def test_with_javascript_the_help_opens_on_the_answers_that_need_it(browser, live_help) -> None:
    page = open_page(browser, _live(live_help), js=True)
    page.goto(live_help + "/en/")
    page.wait_for_function("!document.querySelector('#emergency').open")
    assert not page.is_visible("#emergency .contacts") and not page.is_visible("#emergency-situation .contacts")
    page.check("input[name=danger][value=yes]")
    assert page.is_visible("#emergency .contacts")
    page.check("input[name=danger][value=no]")
    assert not page.is_visible("#emergency .contacts")
    page.fill("#f-what_happened", "My brother has not come home.")
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    assert not page.is_visible("#receipt-help")
    # "Where are they now?" is on the details page (the quick path's step 3): its help opens there.
    page.wait_for_timeout(2100)
    page.check("#add-details input[name=kept]")
    page.click("#add-details button")
    page.wait_for_selector("#details")
    page.wait_for_function("!document.querySelector('#emergency-situation').open")
    page.check("input[name=situation][value=free]")
    assert not page.is_visible("#emergency-situation .contacts")
    page.check("input[name=situation][value=missing]")
    assert page.is_visible("#emergency-situation .contacts")
    assert page.js_errors == []


@pytest.mark.slow
def test_numbers_do_not_wrap_in_arabic_on_a_small_screen(browser, live_help) -> None:
    page = open_page(browser, _live(live_help), js=False, viewport={"width": 320, "height": 640})
    page.goto(live_help + "/ar/")
    lines = page.evaluate(
        """[...document.querySelectorAll('#emergency a.num')].map(a => {
             const r = a.querySelector('span').getBoundingClientRect();
             return [a.querySelector('span').textContent, a.querySelector('span').getClientRects().length,
                     Math.round(r.height), getComputedStyle(a.querySelector('span')).direction];
           })"""
    )
    assert len(lines) == 5, lines
    line_height = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#emergency a.num')).lineHeight)")
    for text, boxes, height, direction in lines:
        assert boxes == 1 and height <= line_height * 1.2, text
        assert direction == "ltr", text
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


@pytest.mark.slow
def test_with_javascript_choosing_a_video_says_its_metadata_stays(browser, live_help) -> None:
    page = open_page(browser, _live(live_help), js=True)
    page.goto(live_help + "/es/")
    page.set_input_files("#f-files", [{"name": "marcha.mp4", "mimeType": "video/mp4", "buffer": b"\0\0\0\x18ftypmp42"}])
    page.wait_for_selector("#file-notes:has-text('No podemos quitar la información oculta de marcha.mp4')")
    assert page.js_errors == []
