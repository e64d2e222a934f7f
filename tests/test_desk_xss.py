"""A hostile reporter against a caseworker's browser, end to end.

The payloads go in through the REAL intake form in real headless Chromium (JavaScript on, so the
browser seals them), then the desk is served for real on a loopback port and opened in Chromium
with JavaScript on. Whatever the reporter wrote must stay text: no script runs, no dialog opens,
no element of theirs reaches the DOM, template syntax is not evaluated, and files only download.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from cases.db import Database
from caseworker import session as staff_session

from .desk_helpers import session_cookie
from .live import open_page, serve
from .reporter_helpers import only_case

pytestmark = pytest.mark.slow

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    '"><svg onload="window.__xss=1">',
    "javascript:window.__xss=1",
    "{{7*7}}",
    "</textarea><script>window.__xss=1</script>",
    '<a href="javascript:window.__xss=1">x</a>',
]
EVERY = "\n".join(PAYLOADS)
# The form's one-line fields hold 200 characters: the payloads are spread over them.
ONE_LINE = {
    "country_other": " ".join(PAYLOADS[0:3]),  # not in the list: the place is written out
    "place": " ".join(PAYLOADS[3:6]),
    "un_link_when": " ".join([PAYLOADS[6], PAYLOADS[1]]),
}
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>window.__xss=1</script></svg>'
HTML = b"<!doctype html><script>window.__xss=1;alert(1)</script><h1>rendered</h1>"
# File names carry payloads too (a file name cannot contain "/").
FILES = {
    '<img src=x onerror="window.__xss=1">.svg': ("image/svg+xml", SVG),
    '"><svg onload="window.__xss=1">.html': ("text/html", HTML),
    "{{7*7}} javascript:window.__xss=1.txt": ("text/plain", b"plain words"),
}
# Nothing the reporter sent may become an element: these would exist if any payload had parsed.
SAFE_DISPOSITION = re.compile(r"attachment; filename=\"[A-Za-z0-9._-]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+")
INJECTED = "img[src=x], svg, [onload], [onerror], a[href^='javascript'], iframe, object, embed, script:not([src])"


@dataclass
class Desk:
    url: str
    cookie: str


@pytest.fixture
def desk(desk_app: Flask, database: Database) -> Iterator[Desk]:
    """The caseworker app on a loopback port, and an admin session cookie for it."""
    cookie = session_cookie(desk_app, database, host="127.0.0.1")  # the name it is served on below
    with serve(desk_app) as url:
        yield Desk(url, cookie)


def report_with_payloads(browser, live) -> None:
    """File through the real quick form (JS on), add the other answers as details and send a
    follow-up, both through the real status page."""
    page = open_page(browser, live, js=True)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", EVERY)
    page.check("input[name=consent_act][value=yes]")
    page.set_input_files(
        "#f-files", [{"name": name, "mimeType": kind, "buffer": data} for name, (kind, data) in FILES.items()]
    )
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    token = page.inner_text("#token").strip()
    page.wait_for_selector("#progress:has-text('All files were sent')", timeout=60_000)

    page.goto(live.url + "/en/status")
    page.fill("#token", token)
    page.click("form.pow button")
    page.wait_for_selector("text=Where it is now", timeout=30_000)
    page.click("#add-details button")
    page.wait_for_selector("#details")
    for name, value in ONE_LINE.items():
        assert len(value) <= 200
        page.fill(f"#f-{name}", value)
    page.fill("#f-reported_result", EVERY)
    page.click("#details button[type=submit]")
    page.wait_for_selector("text=Your details were added.", timeout=30_000)
    page.fill("#f-message", EVERY)
    page.click("#follow-up button[type=submit]")
    page.wait_for_selector(".thread .from-me", timeout=30_000)
    assert page.js_errors == []
    page.context.close()


def desk_page(browser, desk: Desk):
    context = browser.new_context(java_script_enabled=True, accept_downloads=True)
    context.add_cookies([{"name": staff_session.COOKIE, "value": desk.cookie, "url": desk.url}])
    page = context.new_page()
    page.dialogs = []

    def on_dialog(dialog) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def assert_inert(page, desk: Desk) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined", "a payload ran"
    assert page.dialogs == [], "a payload opened a dialog"
    found = page.eval_on_selector_all(INJECTED, "els => els.map(e => e.outerHTML.slice(0, 120))")
    assert found == [], f"payload elements in the DOM: {found}"
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert all(src.startswith(desk.url + "/static/") for src in scripts), scripts


def test_reporter_payloads_stay_text_on_the_desk(browser, live, desk) -> None:
    report_with_payloads(browser, live)
    case = only_case(live.database)
    page = desk_page(browser, desk)
    response = page.goto(f"{desk.url}/cases/{case.id}")
    assert response is not None and response.status == 200
    page.wait_for_timeout(300)  # give an onload/onerror handler every chance to fire
    assert_inert(page, desk)

    # Every payload is visible as text: in the report, the one-line answers and the follow-up.
    for selector in ("#q-what_happened + dd", "#q-reported_result + dd"):
        assert page.inner_text(selector).strip() == EVERY
    for name, value in ONE_LINE.items():
        shown_as = "country" if name == "country_other" else name  # a written place is the country
        assert page.inner_text(f"#q-{shown_as} + dd").strip() == value
    thread = page.inner_text("#thread .reporter-text")
    assert thread.strip() == EVERY
    # Template syntax was not evaluated anywhere the reporter's words appear.
    shown = page.eval_on_selector_all("main dd, .reporter-text, a[download]", "els => els.map(e => e.innerText)")
    assert sum(text.count("{{7*7}}") for text in shown) >= 5
    assert not any("49" in text for text in shown)

    # Every attachment is a download, never a page: the desk page stays where it is.
    links = page.locator("a[download]")
    names = [links.nth(i).inner_text() for i in range(links.count())]
    assert sorted(names) == sorted(FILES)
    for i, name in enumerate(names):
        href = links.nth(i).get_attribute("href")
        with page.expect_download() as info:
            links.nth(i).click()
        download = info.value
        with open(download.path(), "rb") as fh:
            assert fh.read() == FILES[name][1]
        assert page.url == f"{desk.url}/cases/{case.id}"
        headers = page.request.get(desk.url + href).headers
        assert headers["content-type"] == "application/octet-stream"
        assert headers["content-disposition"].startswith("attachment;")
        assert headers["content-security-policy"].startswith("sandbox")
        assert re.fullmatch(
            r'attachment; filename="[A-Za-z0-9._-]+"; filename\*=UTF-8\'\'[A-Za-z0-9%._~-]+',
            headers["content-disposition"],
        )
    # Even opened directly, a file downloads: the browser never renders it.
    with page.expect_download():
        try:
            page.goto(desk.url + links.nth(0).get_attribute("href"))
        except Exception as exc:  # Playwright reports a navigation that became a download
            assert "Download is starting" in str(exc)
    page.goto(f"{desk.url}/cases/{case.id}")
    assert_inert(page, desk)


def test_reporter_payloads_stay_text_in_the_inbox(browser, live, desk) -> None:
    report_with_payloads(browser, live)
    page = desk_page(browser, desk)
    response = page.goto(desk.url + "/")
    assert response is not None
    if response.status == 404:
        pytest.skip("the inbox is not built yet")
    assert response.status == 200
    page.wait_for_timeout(300)
    assert_inert(page, desk)
    case = only_case(live.database)
    assert page.locator(f"a[href$='/cases/{case.id}']").count() >= 1, "the case is listed"
    assert ONE_LINE["country_other"] in page.inner_text("main"), "the reporter's country shows as text"
