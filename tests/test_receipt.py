"""The token can't be lost by a language switch or a reload, leaving asks first, and the printed
receipt says nothing about what it is for but holds the site's address.

Nothing is stored on the device: the receipt page holds the submission's nonce as it holds the
token, and the server's receipt box shows the token again for a short while only.
"""

from __future__ import annotations

import re
import time
from contextlib import suppress
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from cases.blobs import FilesystemBlobStore
from crypto import receipt

from .live import Live, open_page
from .reporter_helpers import PageFields, document, only_case, read_case
from .test_reporter_browser import TOKEN

pytestmark = pytest.mark.slow


def _token_digits(html: str) -> str:
    found = re.search(r'id="token"[^>]*>(.*?)</p>', html, re.S)
    assert found, "no token on the page"
    return re.sub(r"\D", "", found.group(1))


def _switch_fields(html: str) -> dict[str, str]:
    switch = html[html.index('id="receipt-langs"') :]
    csrf = re.search(r'name="csrf" value="([^"]+)"', switch)
    nonce = re.search(r'name="nonce" value="([^"]+)"', switch)
    assert csrf and nonce
    return {"csrf": csrf.group(1), "nonce": nonce.group(1)}


def send_a_short_report(browser: Browser, live: Live, js: bool, text: str) -> Page:
    """The receipt of a one-answer report, as the reporter's browser shows it."""
    page = open_page(browser, live, js=js)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", text)
    if not js:
        page.wait_for_timeout(2100)  # the no-JS path only proves the form was open a moment
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    return page


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_language_switch_on_the_receipt_keeps_the_token(browser: Browser, live: Live, js: bool) -> None:
    page = send_a_short_report(browser, live, js, "They searched my office after the session in Geneva.")
    token = page.inner_text("#token").strip()
    assert TOKEN.match(token)
    assert page.locator("body > nav.langs").count() == 0, "no language link that would lose the token"
    page.click("#receipt-langs button[lang=ar]")
    page.wait_for_selector("html[lang=ar]")
    assert page.inner_text("#token").strip() == token
    page.reload()  # re-posts the switch: the receipt again, still with the token
    page.wait_for_selector("#token")
    assert page.inner_text("#token").strip() == token
    if js:
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0


def test_the_receipt_comes_back_only_while_its_box_allows(
    intake_client: FlaskClient, forms_without_wait: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = PageFields.of(intake_client.get("/en/").get_data(as_text=True)).no_js_form()
    first = intake_client.post("/en/report", data={**fields, "what_happened": "x"}).get_data(as_text=True)
    token, switch = _token_digits(first), _switch_fields(first)
    again = intake_client.post("/fr/receipt", data=switch)
    assert again.status_code == 200 and 'lang="fr"' in again.get_data(as_text=True)
    assert _token_digits(again.get_data(as_text=True)) == token

    later = time.time() + receipt.SHOW_AGAIN_SECONDS + 1
    monkeypatch.setattr("crypto.receipt.time.time", lambda: later)
    late = intake_client.post("/en/receipt", data=switch).get_data(as_text=True)
    assert 'id="token"' not in late and "already received" in late

    unknown = intake_client.post("/en/receipt", data={**switch, "nonce": "A" * 24})
    assert unknown.status_code == 404 and 'id="token"' not in unknown.get_data(as_text=True)


def test_the_printed_receipt_is_discreet_and_says_where_to_come_back(browser: Browser, live: Live) -> None:
    page = send_a_short_report(browser, live, False, "They threatened my family.")
    token = page.inner_text("#token").strip()
    page.emulate_media(media="print")
    printed = page.inner_text("body")
    assert token in printed and live.url in printed
    assert not re.search(r"reprisal|report", printed, re.I), printed
    assert not re.search(r"reprisal", page.title(), re.I)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_leaving_the_receipt_asks_whether_the_token_was_kept(browser: Browser, live: Live, js: bool) -> None:
    page = send_a_short_report(browser, live, js, "My passport was taken at the airport.")
    here = page.url
    for button in (ONWARDS_DETAILS, ONWARDS_STATUS):
        page.click(button)
        page.wait_for_timeout(300)
        assert page.url == here and page.locator("#token").count() == 1, "not without saying the token was kept"
    page.check("#add-details input[name=kept]")
    if not js:
        page.wait_for_timeout(2100)  # the form's proof-of-work is paid by waiting
    page.click(ONWARDS_STATUS)
    # Straight to the report's own page, the token never typed again.
    page.wait_for_selector("#follow-up")
    assert page.url.endswith("/en/status")


ONWARDS_DETAILS = "#add-details button[formaction]"
ONWARDS_STATUS = "#add-details button:not([formaction])"


def _receipt_shown(page: Page) -> str:
    page.wait_for_selector("#token", timeout=30_000)
    return page.inner_text("#token").strip()


def _back_to_the_receipt(page: Page) -> str:
    """Back from another page: the receipt again, or the browser's "resubmit?" page (Chromium
    keeps no copy of a no-store answer to a POST: net::ERR_CACHE_MISS), whose reload posts again."""
    with suppress(PlaywrightError):
        page.go_back(wait_until="load")
    for _attempt in range(5):
        if page.locator("#token").count():
            break
        page.wait_for_timeout(300)  # the error page may still be committing
        with suppress(PlaywrightError):
            page.reload(wait_until="load")
    return _receipt_shown(page)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_receipt_survives_reload_and_back(browser: Browser, live: Live, js: bool) -> None:
    page = send_a_short_report(browser, live, js, "They followed me home after the side event.")
    if js:  # the script ends on a real page: the receipt posted again with the submission's nonce
        page.wait_for_url(re.compile(r"/en/receipt$"))
    token = _receipt_shown(page)
    assert TOKEN.match(token)
    page.reload(wait_until="load")
    assert _receipt_shown(page) == token
    page.click("footer a[href$='/safety']")
    page.wait_for_url(re.compile(r"/en/safety$"))
    assert _back_to_the_receipt(page) == token
    # Once the token has opened the case, the receipt box is gone (§14.3): Back no longer shows it.
    page.check("#add-details input[name=kept]")
    if not js:
        page.wait_for_timeout(2100)
    page.click(ONWARDS_STATUS)
    page.wait_for_selector("#follow-up")
    with suppress(PlaywrightError):
        page.go_back(wait_until="load")
    for _attempt in range(5):
        if page.locator("#receipt").count():
            break
        page.wait_for_timeout(300)
        with suppress(PlaywrightError):
            page.reload(wait_until="load")
    assert page.locator("#receipt").count() == 1 and page.locator("#token").count() == 0
    assert page.context.cookies()[0]["name"] == "csrf" and len(page.context.cookies()) == 1
    if js:
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert not page.js_errors  # type: ignore[attr-defined]  # tests.live.open_page records them on the page


def test_with_files_the_script_moves_to_the_receipt_page_only_once_they_are_sent(
    browser: Browser, live: Live, installed: Any
) -> None:
    page = open_page(browser, live, js=True)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", "They took my phone; here are the photos I kept.")
    page.check("input[name=danger][value=yes]")
    page.set_input_files("#f-files", [{"name": "long.txt", "mimeType": "text/plain", "buffer": document(300_000)}])
    page.click("#send")
    page.wait_for_url(re.compile(r"/en/receipt$"), timeout=60_000)
    token = _receipt_shown(page)
    assert "All files were sent" in page.inner_text("#progress")
    assert page.is_visible("#receipt-help"), "the help the report asked for stays open"
    posted = [url for url in live.urls if "/api/" in url or url.endswith("/en/receipt")]
    assert posted[-1].endswith("/en/receipt") and sum(u.endswith("/en/receipt") for u in posted) == 1
    assert any("/api/upload/" in u for u in posted[:-1]), "every chunk went before the page moved on"
    _, files = read_case(
        live.database,
        installed.admin_password,
        only_case(live.database).id,
        FilesystemBlobStore(live.settings.blob_dir),
    )
    assert files == [("long.txt", document(300_000))]
    page.reload(wait_until="load")
    assert _receipt_shown(page) == token and "All files were sent" in page.inner_text("#progress")
    assert not page.js_errors


def test_after_uploads_longer_than_the_receipt_box_the_token_stays_on_screen(browser: Browser, live: Live) -> None:
    """The receipt box shows the token for 30 minutes: had the files taken longer (a slow link),
    posting for the receipt would find it closed, so the script stays on the page it has."""
    page = open_page(browser, live, js=True)
    page.add_init_script("{ const real = Date.now; window.later = 0; Date.now = () => real() + window.later; }")

    def late(route: Any) -> None:  # the first chunk goes up "26 minutes" after the receipt came
        page.evaluate("window.later = 26 * 60 * 1000")
        route.continue_()

    page.route("**/api/upload/**", late)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", "The files are large and my connection is slow.")
    page.set_input_files("#f-files", [{"name": "long.txt", "mimeType": "text/plain", "buffer": document(100_000)}])
    page.click("#send")
    page.wait_for_selector("#progress:has-text('All files were sent')", timeout=60_000)
    page.wait_for_timeout(500)
    assert page.url == live.url + "/en/", "no move to a receipt that could no longer show the token"
    assert TOKEN.match(page.inner_text("#token").strip())
    assert not any(url.endswith("/en/receipt") for url in live.urls)
