"""The reporter's side in real headless Chromium, with JavaScript on and off.

Each test drives the real form over a socket and then checks what a user would notice (the
token, the status page, the reply) and what an attacker would look for (plaintext in request
bodies, in the database and in the blob store).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cases import conversation
from cases.blobs import FilesystemBlobStore
from cases.models import Attachment, Case, SealedIn, Status

from .live import open_page
from .reporter_helpers import (
    CANARY,
    PHOTO_CANARY,
    assert_no_canary_at_rest,
    document,
    merged_answers,
    only_case,
    png_with_metadata,
    read_case,
)

pytestmark = pytest.mark.slow
TOKEN = re.compile(r"^\d{4} \d{4} \d{4} \d{4} \d{4}$")


def fill_report(page, live, *, files: bool = True) -> None:
    """The quick form: its three questions (and files)."""
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", f"They took my colleague. {CANARY}")
    page.check("input[name=danger][value=yes]")
    page.check("input[name=consent_act][value=yes]")
    if files:
        page.set_input_files(
            "#f-files",
            [
                {"name": f"{CANARY}.txt", "mimeType": "text/plain", "buffer": document()},
                {"name": "photo.png", "mimeType": "image/png", "buffer": png_with_metadata()},
            ],
        )


def submit_and_read_token(page, js: bool, files: bool = False) -> str:
    if not js:
        page.wait_for_timeout(2100)  # the no-JS path only proves the form was open a moment
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    token = page.inner_text("#token").strip()
    assert TOKEN.match(token), token
    if js and files:
        page.wait_for_selector("#progress:has-text('All files were sent')", timeout=60_000)
    return token


DETAILS_CANARY = "CANARY-details-Qx7-moved-to-Gao"


def add_details(page, js: bool, *, country_other: str = f"Near the border {DETAILS_CANARY}") -> None:
    """On the details page: a few answers, then send; lands on the status page, which says so."""
    page.wait_for_selector("#details")
    page.check("input[name=act_types][value=arrest_detention]")
    page.check("input[name=act_types][value=threats]")
    page.select_option("#f-country", "KE")
    page.fill("#f-country_other", country_other)
    page.check("input[name=consent_publish][value=anonymised]")
    if not js:
        page.wait_for_timeout(2100)
    page.click("#details button[type=submit]")
    page.wait_for_selector("text=Your details were added.", timeout=60_000)
    assert "Where it is now" in page.inner_text("main")


def open_status(page, live, token: str, js: bool) -> None:
    page.goto(live.url + "/en/status")
    page.fill("#token", token)
    if not js:
        page.wait_for_timeout(2100)
    page.click("form.pow button")
    page.wait_for_selector("text=Where it is now", timeout=30_000)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_report_with_two_attachments_is_sealed_and_readable_by_staff(browser, live, installed, js) -> None:
    page = open_page(browser, live, js=js)
    fill_report(page, live)
    # The first page asks three questions, then Send; everything else comes later.
    asked = page.evaluate(
        """[...new Set([...document.querySelectorAll('#report [name]')].filter(e => e.type !== 'hidden')
           .map(e => e.name))]"""
    )
    assert asked == ["danger", "what_happened", "files", "keep_original", "consent_act"]
    assert page.get_attribute(".steps [aria-current=step]", "aria-current") == "step"
    submit_and_read_token(page, js, files=True)
    assert page.inner_text(".steps [aria-current=step]").startswith("2")
    # Step 3 from the receipt (a time-paid form: the reporter reads the token first).
    page.wait_for_timeout(2100)
    page.click("#add-details button")
    assert page.inner_text(".steps [aria-current=step]").startswith("2"), "the token must be kept first"
    page.check("#add-details input[name=kept]")
    page.click("#add-details button")
    assert page.inner_text(".steps [aria-current=step]").startswith("3")
    add_details(page, js)
    assert page.js_errors == []

    case = only_case(live.database)
    assert case.urgent is True
    assert case.sealed_in is (SealedIn.BROWSER if js else SealedIn.SERVER)
    with live.database.session() as session:
        attachments = session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
        assert len(attachments) == 2 and all(a.complete for a in attachments)

    if js:  # sealed in the browser: no request body carries any plaintext
        assert live.bodies, "request bodies must have been captured"
        for body in live.bodies:
            assert CANARY.encode() not in body and PHOTO_CANARY.encode() not in body
            assert DETAILS_CANARY.encode() not in body
    assert all(CANARY not in url and DETAILS_CANARY not in url for url in live.urls)
    assert_no_canary_at_rest(live.database, live.settings, CANARY, PHOTO_CANARY, DETAILS_CANARY)

    report, files = read_case(
        live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir)
    )
    answers = report["answers"]
    assert answers == {"what_happened": f"They took my colleague. {CANARY}", "danger": "yes", "consent_act": "yes"}
    merged = merged_answers(live.database, installed.admin_password, case.id)
    assert CANARY in merged["what_happened"] and merged["danger"] == "yes"
    assert sorted(merged["act_types"]) == ["arrest_detention", "threats"]
    assert merged["consent_publish"] == "anonymised"
    assert merged["country"] == "KE" and merged["country_other"] == f"Near the border {DETAILS_CANARY}"
    names = [name for name, _ in files]
    assert names == sorted([f"{CANARY}.txt", "photo.png"])
    data = dict(files)
    assert data[f"{CANARY}.txt"] == document()
    assert PHOTO_CANARY.encode() not in data["photo.png"], "photo metadata must be stripped"
    assert data["photo.png"].startswith(b"\x89PNG")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_token_shows_status_reply_and_takes_a_follow_up(browser, live, js) -> None:
    page = open_page(browser, live, js=js)
    fill_report(page, live, files=False)
    token = submit_and_read_token(page, js)
    case = only_case(live.database)
    with live.database.session() as session:
        stored = session.get_one(Case, case.id)
        conversation.change_status(
            session, stored, Status.UNDER_REVIEW, "We are checking with a partner in your country."
        )
        conversation.reply(session, stored, "Are you safe now? <script>alert(1)</script>", author_id=None)

    open_status(page, live, token, js)
    main = page.inner_text("main")
    assert "Under review" in main
    assert "We are checking with a partner in your country." in main
    assert "Are you safe now? <script>alert(1)</script>" in main  # shown as text, not run

    page.fill("#f-message", "Yes, I moved to another city.")
    if not js:
        page.wait_for_timeout(2100)
    page.click("#follow-up button[type=submit]")
    page.wait_for_selector(".thread .from-me", timeout=30_000)
    assert "Yes, I moved to another city." in page.inner_text(".thread")
    assert "You wrote" in page.inner_text("main")
    assert page.js_errors == []


def test_a_dropped_upload_resumes_without_starting_over(browser, live, installed) -> None:
    page = open_page(browser, live, js=True)
    dropped: list[str] = []

    def flaky(route) -> None:
        # The connection drops on the second chunk of the file, twice.
        if route.request.method == "PUT" and route.request.url.endswith("/1") and len(dropped) < 2:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/upload/**", flaky)
    fill_report(page, live, files=False)
    page.set_input_files("#f-files", [{"name": "long.txt", "mimeType": "text/plain", "buffer": document(300_000)}])
    submit_and_read_token(page, js=True, files=True)
    assert len(dropped) == 2
    puts = [url for url in live.urls if "/api/upload/" in url and re.search(r"/\d+$", url)]
    assert sorted(set(puts)) == sorted(set(puts))  # each chunk URL; chunk 0 must not be re-sent:
    assert sum(url.endswith("/0") for url in puts) == 1
    case = only_case(live.database)
    _, files = read_case(live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir))
    assert files == [("long.txt", document(300_000))]


def test_arabic_renders_right_to_left_without_english(browser, live) -> None:
    page = open_page(browser, live, js=True)
    page.goto(live.url + "/ar/")
    assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "ar"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    text = page.inner_text("main")
    for english in ("What happened?", "Send the report", "Leave this site quickly", "immediate danger"):
        assert english not in text + page.inner_text("body")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_double_submit_makes_one_case(browser, live, js) -> None:
    """A double tap, and a retried request on a flaky network, both end in one case."""
    page = open_page(browser, live, js=js)
    fill_report(page, live, files=False)
    if not js:
        page.wait_for_timeout(2100)
    with page.expect_request(lambda r: r.method == "POST" and "report" in r.url) as sent:
        page.dblclick("#send")
    page.wait_for_selector("#token", timeout=60_000)
    token = page.inner_text("#token").strip()
    # The network retries the very same request: the reporter sees the same token again.
    replay = page.request.fetch(sent.value)
    assert replay.ok and token.replace(" ", "") in re.sub(r"\D", "", replay.text())
    with live.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_nothing_is_stored_in_the_browser_and_nothing_loads_from_elsewhere(browser, live) -> None:
    page = open_page(browser, live, js=True)
    fill_report(page, live)
    submit_and_read_token(page, js=True, files=True)
    storage = page.evaluate(
        "(async () => [localStorage.length, sessionStorage.length, (await indexedDB.databases()).length])()"
    )
    assert storage == [0, 0, 0]
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies] == ["csrf"]
    assert all(url.startswith(live.url) for url in live.urls), [u for u in live.urls if not u.startswith(live.url)]


def test_a_mistyped_token_is_called_a_typo(browser, live) -> None:
    page = open_page(browser, live, js=True)
    fill_report(page, live, files=False)
    token = submit_and_read_token(page, js=True)
    digits = token.replace(" ", "")
    typo = digits[:5] + str((int(digits[5]) + 1) % 10) + digits[6:]
    page.goto(live.url + "/en/status")
    page.fill("#token", typo)
    page.click("form.pow button")
    page.wait_for_selector("#token-error")
    assert "typo" in page.inner_text("#token-error")


def test_usable_at_320_pixels_and_every_field_is_labelled(browser, live) -> None:
    page = open_page(browser, live, js=True, viewport={"width": 320, "height": 640})
    page.goto(live.url + "/en/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
           .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
    )
    assert unlabelled == []


def test_deleting_the_reply_channel_makes_the_token_useless(browser, live) -> None:
    page = open_page(browser, live, js=True)
    fill_report(page, live, files=False)
    token = submit_and_read_token(page, js=True)
    open_status(page, live, token, js=True)
    page.check("input[name=confirm]")
    page.click("button.danger-button")
    page.wait_for_selector("text=Deleted")
    page.goto(live.url + "/en/status")
    page.fill("#token", token)
    page.click("form.pow button")
    page.wait_for_selector("#token-error")
    assert "No report matches" in page.inner_text("#token-error")


def test_the_form_can_be_sent_by_keyboard_alone(browser, live) -> None:
    page = open_page(browser, live, js=True)
    page.goto(live.url + "/en/")
    assert page.evaluate("[...document.querySelectorAll('[tabindex]')].filter(e => e.tabIndex > 0).length") == 0
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "leave"  # the way out comes first
    for _ in range(200):  # walk the tab order to the account of what happened
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-what_happened":
            break
    page.keyboard.type("Sent with the keyboard only.")
    for _ in range(300):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "send":
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("#token", timeout=30_000)
    assert TOKEN.match(page.inner_text("#token").strip())


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_details_added_later_from_the_status_page_and_twice(browser, live, installed, js) -> None:
    """Later, with the token: the status page offers "Add details"; a second time replaces an answer."""
    page = open_page(browser, live, js=js)
    fill_report(page, live, files=False)
    token = submit_and_read_token(page, js)
    open_status(page, live, token, js)
    if not js:
        page.wait_for_timeout(2100)
    page.click("#add-details button")
    add_details(page, js, country_other="first")
    if not js:
        page.wait_for_timeout(2100)  # the new status page's form is paid by its age again
    page.click("#add-details button")
    add_details(page, js, country_other=f"second {DETAILS_CANARY}")
    assert page.js_errors == []
    case = only_case(live.database)
    merged = merged_answers(live.database, installed.admin_password, case.id)
    assert merged["country_other"] == f"second {DETAILS_CANARY}"
    assert_no_canary_at_rest(live.database, live.settings, DETAILS_CANARY)
    if js:
        assert not any(DETAILS_CANARY.encode() in body for body in live.bodies)


def test_the_steps_and_details_page_fit_320_pixels(browser, live) -> None:
    page = open_page(browser, live, js=True, viewport={"width": 320, "height": 640})
    fill_report(page, live, files=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    submit_and_read_token(page, js=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.wait_for_timeout(2100)
    page.check("#add-details input[name=kept]")
    page.click("#add-details button")
    page.wait_for_selector("#details")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert page.is_visible(".steps [aria-current=step]")
