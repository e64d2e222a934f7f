"""axe-core (pinned in package-lock.json, installed by ``npm ci``) finds no violation, of any
impact, on any reporter page, in all six languages, with JavaScript on and off.

Every page a reporter can reach is one row of ``PAGES``: its name, how a browser gets there from
the language's front page, and whether it exists with JavaScript on, off or both. A new page is
one new row. One browser and one context per mode; each row runs in the six languages.

JavaScript off: a page opened with JavaScript disabled cannot run axe (it never gets a timer
tick, so ``axe.run`` never settles). So the page is reached exactly as a reporter without
JavaScript reaches it (forms posted by the browser itself), and the DOM it shows is then loaded,
with its script elements removed, into a second, JavaScript-enabled page where axe runs: the same
markup and inline style, and nothing app.js would have added or changed. JavaScript on: axe is
evaluated in the page itself through the DevTools protocol (``page.evaluate``), which the page's
strict Content-Security-Policy does not apply to, so the page is checked as it is served.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cases import conversation
from cases import proof_of_work as pow_module
from cases.models import Case, Status
from intake.i18n import LANGUAGES

from .factories import file_case
from .live import Live, open_page

pytestmark = pytest.mark.slow

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# Every rule axe runs by default (WCAG 2.0-2.2 A and AA, and best practices), none switched off, and
# target-size (WCAG 2.2 AA, 24 px), which axe leaves off by default.
AXE_RUN = """axe.run(document, {resultTypes: ['violations'], rules: {'target-size': {enabled: true}}})
  .then(r => ({passes: r.passes.length, lang: document.documentElement.lang,
               violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                   targets: v.nodes.map(n => n.target.join(' '))}))}))"""
# WCAG 2.2's 24 px minimum target, measured on every control itself (axe's target-size rule
# accepts a smaller control with enough space around it, and never sees a file input's button).
SMALL_TARGETS = """[...document.querySelectorAll('button, input:not([type=hidden]), select, textarea, summary')]
  .filter(e => e.getClientRects().length)
  .filter(e => { const r = e.getBoundingClientRect(); return r.width < 24 || r.height < 24; })
  .map(e => { const r = e.getBoundingClientRect(), name = e.id ? '#' + e.id : e.tagName + '[name=' + e.name + ']';
              return name + ' ' + Math.round(r.width) + 'x' + Math.round(r.height); })"""


@dataclass
class Visit:
    """One language, one mode: the page being driven and what the rows need."""

    page: Any
    live: Live
    lang: str
    js: bool
    token: str  # opens a case with a status change, a reply and a reporter's message
    monkeypatch: pytest.MonkeyPatch

    @property
    def base(self) -> str:
        return f"{self.live.url}/{self.lang}"

    def settle(self) -> None:
        self.page.wait_for_load_state("load")


def _form(v: Visit) -> None:
    v.page.goto(v.base + "/")


def _form_empty_submit(v: Visit) -> None:
    _form(v)
    v.page.click("#send")
    v.page.wait_for_selector("[aria-invalid=true]", timeout=30_000)


def _form_sent_too_soon(v: Visit) -> None:
    """Without JavaScript a form posted before its minimum time comes back asking to wait."""
    v.monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 3600)
    try:
        _form(v)
        v.page.fill("#f-what_happened", "They came to my office.")
        v.page.click("#send")
        v.page.wait_for_selector("#notice", timeout=30_000)
    finally:
        v.monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)


def _receipt(v: Visit) -> None:
    _form(v)
    v.page.fill("#f-what_happened", "They came to my office.")
    v.page.click("#send")
    v.page.wait_for_selector("#token", timeout=60_000)
    v.settle()


def _status_lookup(v: Visit) -> None:
    v.page.goto(v.base + "/status")


def _status_lookup_bad_token(v: Visit) -> None:
    _status_lookup(v)
    v.page.fill("#token", "1234 5678")
    v.page.click("form.pow button")
    v.page.wait_for_selector("#token[aria-invalid=true]", timeout=30_000)


def _open_status(v: Visit, token: str) -> None:
    _status_lookup(v)
    v.page.fill("#token", token)
    v.page.click("form.pow button")
    v.page.wait_for_selector("#follow-up", timeout=30_000)
    v.settle()


def _status(v: Visit) -> None:
    _open_status(v, v.token)


def _status_empty_follow_up(v: Visit) -> None:
    _status(v)
    v.page.click("#follow-up button[type=submit]")
    v.page.wait_for_selector("#f-message[aria-invalid=true]", timeout=30_000)
    v.settle()


def _status_delete_unconfirmed(v: Visit) -> None:
    _status(v)
    v.page.click("#delete button[type=submit]")
    v.page.wait_for_selector("#f-confirm[aria-invalid=true]", timeout=30_000)
    v.settle()


def _deleted(v: Visit) -> None:
    spare = file_case(v.live.database, settings=v.live.settings).token
    assert spare is not None
    _open_status(v, spare)
    v.page.check("#f-confirm")
    v.page.click("#delete button[type=submit]")
    v.page.wait_for_selector("#follow-up", state="detached", timeout=30_000)
    v.settle()


def _details(v: Visit) -> None:
    _status(v)
    v.page.click("#add-details button")
    v.page.wait_for_selector("form#details", timeout=30_000)
    v.settle()


def _details_added(v: Visit) -> None:
    _details(v)
    v.page.check("input[name=situation][value=detained]")  # opens its emergency help too
    v.page.click("form#details button[type=submit]")
    v.page.wait_for_selector("#follow-up", timeout=30_000)
    v.settle()


def _safety(v: Visit) -> None:
    v.page.goto(v.base + "/safety")


def _not_found(v: Visit) -> None:
    v.page.goto(v.base + "/no-such-page")


BOTH, JS_ONLY, NO_JS_ONLY = (True, False), (True,), (False,)
# name, how to get there, with JavaScript on and/or off
PAGES: list[tuple[str, Callable[[Visit], None], tuple[bool, ...]]] = [
    ("form", _form, BOTH),
    ("form, sent empty", _form_empty_submit, BOTH),
    ("form, sent too soon", _form_sent_too_soon, NO_JS_ONLY),  # with JavaScript the work is done instead
    ("receipt", _receipt, BOTH),
    ("status lookup", _status_lookup, BOTH),
    ("status lookup, bad token", _status_lookup_bad_token, BOTH),
    ("status page", _status, BOTH),
    ("status page, empty follow-up", _status_empty_follow_up, BOTH),
    ("status page, delete not ticked", _status_delete_unconfirmed, BOTH),
    ("details page", _details, BOTH),
    ("status page, details added", _details_added, BOTH),
    ("deleted channel", _deleted, BOTH),
    ("staying safe", _safety, BOTH),
    ("page not found", _not_found, BOTH),
]


def _case_with_a_conversation(live: Live) -> str:
    """A case whose status page has every part: a timeline step, a reply and the reporter's message."""
    filed = file_case(live.database, answers={"what_happened": "x"}, settings=live.settings)
    with live.database.session() as session:
        case = session.get_one(Case, filed.case_id)
        conversation.change_status(session, case, Status.UNDER_REVIEW, "We are checking with a partner.")
        team, mine = conversation.seal_follow_up(session, case, "I moved to another city.")
        conversation.add_follow_up(session, case, team, mine)
        conversation.reply(session, case, "Are you safe now?", author_id=None)
    assert filed.token is not None
    return filed.token


def _without_scripts(html: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL | re.IGNORECASE)


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` at the repository root (make test does)")
    return AXE.read_text(encoding="utf-8")


def _violations(page: Any, axe_page: Any, lang: str, js: bool, axe_source: str) -> list[dict[str, Any]]:
    if js:
        target = page
    else:
        axe_page.set_content(_without_scripts(page.content()), wait_until="load")
        target = axe_page
    target.evaluate(axe_source)  # afresh for every document, so axe never holds on to an old one
    small = target.evaluate(SMALL_TARGETS)
    sizes = [{"id": "target-size-24", "impact": "serious", "help": "Controls must be 24 by 24 px", "targets": small}]
    result = target.evaluate(AXE_RUN)
    assert result["lang"] == lang and result["passes"] > 10, f"axe did not check the {lang} page: {result}"
    return list(result["violations"]) + (sizes if small else [])


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_every_reporter_page_has_no_axe_violation(
    browser, live: Live, monkeypatch: pytest.MonkeyPatch, forms_without_wait: None, axe_source: str, js: bool
) -> None:
    token = _case_with_a_conversation(live)
    page = open_page(browser, live, js=js)
    axe_page = None if js else browser.new_context().new_page()
    found: list[str] = []
    try:
        for lang in LANGUAGES:
            for name, reach, modes in PAGES:
                if js not in modes:
                    continue
                reach(Visit(page, live, lang, js, token, monkeypatch))
                for v in _violations(page, axe_page, lang, js, axe_source):
                    where = json.dumps(v["targets"])
                    found.append(f"[{lang}] {name}: {v['id']} ({v['impact']}) {v['help']} at {where}")
        assert page.js_errors == []
    finally:
        page.context.close()
        if axe_page is not None:
            axe_page.context.close()
    assert not found, f"{len(found)} axe violations:\n" + "\n".join(found)
