"""Every mistake a reporter can make is shown next to its field, JavaScript on and off: a message
the field names in aria-describedby, the field marked invalid and given the focus (so the browser
scrolls to it), and without JavaScript a summary at the top of the page linking to each field."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from .factories import file_case
from .live import open_page

PHONE = {"width": 360, "height": 640}
MAX_FILES = 2


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "RRI_MAX_FILE_MB": "1", "RRI_MAX_FILES": str(MAX_FILES)}


class _Tags(HTMLParser):
    """Every start tag in order, with its attributes (a valueless attribute maps to "")."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def _tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _summary_links(html: str) -> list[tuple[str, str]]:
    summary = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert summary is not None, "no error summary at the top of the page"
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary.group(1))


def assert_shown_next_to(html: str, field_id: str, name: str, heading: str = "There is a problem") -> str:
    """The field's message is right before it, named by it, and linked from the summary; the
    field is invalid and the one that takes the focus. Returns the message."""
    tags = _tags(html)
    positions = {attrs.get("id"): i for i, (_tag, attrs) in enumerate(tags) if attrs.get("id")}
    assert field_id in positions, f"no #{field_id}"
    field = tags[positions[field_id]][1]
    assert field.get("aria-invalid") == "true"
    assert f"{name}-error" in field.get("aria-describedby", "").split()
    assert [attrs.get("id") for _t, attrs in tags if "autofocus" in attrs] == [field_id], "one autofocus, on it"
    message = re.search(rf'<p class="error" id="{name}-error" role="alert">([^<]+)</p>', html)
    assert message is not None, f"no message #{name}-error"
    between = tags[positions[f"{name}-error"] + 1 : positions[field_id]]
    assert not [t for t, a in between if t in ("input", "textarea", "select") and a.get("type") != "hidden"], (
        "another field stands between the message and its field"
    )
    assert f'<h2 id="error-summary-title">{heading}</h2>' in html
    assert (field_id, message.group(1)) in _summary_links(html)
    assert html.index('class="error-summary"') < html.index("<h1"), "the summary opens the page"
    return message.group(1)


def _hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', html))


# -- without JavaScript, as the server renders it --------------------------------------------------


def test_the_clean_form_has_no_error_markup(intake_client) -> None:
    html = intake_client.get("/en/").get_data(as_text=True)
    assert 'class="error-summary"' not in html and 'class="error"' not in html
    assert not [a for _t, a in _tags(html) if "aria-invalid" in a or "autofocus" in a]


@pytest.mark.usefixtures("forms_without_wait")
@pytest.mark.parametrize(("lang", "heading"), [("en", "There is a problem"), ("fr", "Il y a un problème")])
def test_an_empty_report_is_shown_at_its_field_with_a_summary(intake_client, lang: str, heading: str) -> None:
    fields = _hidden(intake_client.get(f"/{lang}/").get_data(as_text=True))
    response = intake_client.post(f"/{lang}/report", data=fields)
    assert response.status_code == 400
    message = assert_shown_next_to(response.get_data(as_text=True), "f-what_happened", "what_happened", heading)
    assert ("only question you must answer" in message) == (lang == "en")


@pytest.mark.usefixtures("forms_without_wait")
def test_several_mistakes_are_all_listed_and_the_first_listed_takes_the_focus(intake_client) -> None:
    fields = _hidden(intake_client.get("/en/").get_data(as_text=True))
    html = intake_client.post("/en/report", data={**fields, "danger": "perhaps"}).get_data(as_text=True)
    links = [link for link, _ in _summary_links(html)]
    assert sorted(links) == ["f-danger", "f-what_happened"]  # a choice: its first box carries the id
    assert_shown_next_to(html, links[0], links[0].removeprefix("f-"))
    other = next(a for _t, a in _tags(html) if a.get("id") == links[1])
    assert other.get("aria-invalid") == "true" and "autofocus" not in other


@pytest.mark.usefixtures("forms_without_wait")
@pytest.mark.parametrize("typed", ["1234", "1234 5678 9012 3456 7891", "9999 9999 9999 9999 9999"])
def test_a_bad_token_is_shown_at_the_token_field(intake_client, typed: str) -> None:
    fields = _hidden(intake_client.get("/en/status").get_data(as_text=True))
    html = intake_client.post("/en/status", data={**fields, "token": typed}).get_data(as_text=True)
    assert_shown_next_to(html, "token", "token")


@pytest.mark.usefixtures("forms_without_wait")
@pytest.mark.parametrize(
    ("path", "field_id", "name"),
    [("/en/status/message", "f-message", "message"), ("/en/status/delete", "f-confirm", "confirm")],
    ids=["empty-follow-up", "delete-not-ticked"],
)
def test_status_page_mistakes_are_shown_at_their_field(intake_client, database, settings, path, field_id, name) -> None:
    token = file_case(database, settings=settings).token
    fields = _hidden(intake_client.get("/en/status").get_data(as_text=True))
    response = intake_client.post(path, data={**fields, "token": token, "message": "  "})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_shown_next_to(html, field_id, name)
    assert html.count('role="alert"') == 2  # the summary and the message; the other field is untouched


# -- in Chromium, JavaScript on and off -----------------------------------------------------------

FOCUSED_AND_SEEN = """id => { const e = document.activeElement, r = e.getBoundingClientRect();
  return e.id === id && r.top >= 0 && r.bottom <= innerHeight; }"""
DESCRIPTION = """id => (document.getElementById(id).getAttribute('aria-describedby') || '').split(' ')
  .map(d => document.getElementById(d)).filter(e => e && e.offsetParent).map(e => e.textContent).join(' | ')"""


@pytest.mark.slow
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_empty_send_focuses_the_field_and_says_why_beside_it(browser, live, js: bool) -> None:
    page = open_page(browser, live, js=js, viewport=PHONE)
    page.goto(live.url + "/en/")
    page.click("#send")
    page.wait_for_function(FOCUSED_AND_SEEN, arg="f-what_happened", timeout=30_000)
    assert page.get_attribute("#f-what_happened", "aria-invalid") == "true"
    assert "It is the only question you must answer" in page.evaluate(DESCRIPTION, "f-what_happened")
    if js:
        assert page.inner_text("#progress") == ""  # said beside the field, not at the bottom of the page
        assert not [u for u in live.urls if "/api/" in u], "nothing is sent"
    else:
        assert page.is_visible(".error-summary a[href='#f-what_happened']")
    assert page.js_errors == []


@pytest.mark.slow
def test_file_limits_are_shown_at_the_file_input_and_cleared_when_fixed(browser, live) -> None:
    page = open_page(browser, live, js=True, viewport=PHONE)
    page.goto(live.url + "/en/")
    page.click("#send")  # first the required answer is missing...
    page.wait_for_selector("#f-what_happened[aria-invalid=true]")
    page.fill("#f-what_happened", "They took my phone.")
    small = {"name": "a.txt", "mimeType": "text/plain", "buffer": b"statement"}
    too_many = [{**small, "name": f"{n}.txt"} for n in range(MAX_FILES + 1)]
    too_big = {"name": "video.txt", "mimeType": "text/plain", "buffer": b"x" * (1024 * 1024 + 1)}

    limits = [(too_many, f"Too many files: at most {MAX_FILES}"), ([too_big], "This file is too big: video.txt")]
    for files, said in limits:
        page.set_input_files("#f-files", files)
        page.wait_for_selector("#files-error")
        assert said in page.inner_text("#files-error")
        assert page.evaluate("document.getElementById('files-error').nextElementSibling.id") == "f-files"
        assert page.get_attribute("#f-files", "aria-describedby") == "files-help files-metadata files-error"
        assert page.get_attribute("#f-files", "aria-invalid") == "true"
        page.wait_for_function(FOCUSED_AND_SEEN, arg="f-files")

    page.click("#send")  # ...and sending with a file over the limit says so at the input again
    page.wait_for_function(FOCUSED_AND_SEEN, arg="f-files")
    assert "too big" in page.inner_text("#files-error")
    assert page.get_attribute("#f-what_happened", "aria-invalid") is None, "the answered question is no longer marked"
    assert page.query_selector("#what_happened-error") is None
    assert not [u for u in live.urls if "/api/" in u], "nothing is sent"

    page.set_input_files("#f-files", [small])
    page.wait_for_selector("#files-error", state="detached")
    assert page.get_attribute("#f-files", "aria-describedby") == "files-help files-metadata"
    assert page.get_attribute("#f-files", "aria-invalid") is None
    assert page.js_errors == []


@pytest.mark.slow
@pytest.mark.usefixtures("forms_without_wait")
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_status_page_mistakes_focus_their_field(browser, live, js: bool) -> None:
    token = file_case(live.database, settings=live.settings).token
    assert token is not None
    page = open_page(browser, live, js=js, viewport=PHONE)
    for button, field_id, said in [
        ("#follow-up button[type=submit]", "f-message", "Write a message or choose a file"),
        ("#delete button[type=submit]", "f-confirm", "Tick the box to confirm"),
    ]:
        page.goto(live.url + "/en/status")
        page.fill("#token", token)
        page.click("form.pow button")
        page.wait_for_selector("#follow-up")
        page.click(button)
        page.wait_for_function(FOCUSED_AND_SEEN, arg=field_id, timeout=30_000)
        assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
        assert said in page.evaluate(DESCRIPTION, field_id)
    if js:  # the empty follow-up never left the page
        assert not [u for u in live.urls if u.endswith("/status/message") or "/api/message" in u]
    assert page.js_errors == []


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_a_page_that_does_not_exist_answers_in_the_language_of_its_path(intake_client, lang: str) -> None:
    response = intake_client.get(f"/{lang}/no-such-page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert f'<html lang="{lang}"' in html and "This page does not exist" not in html
