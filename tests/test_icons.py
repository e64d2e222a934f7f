"""Icons for reporters who read little (intake/icons.py, intake/icons/*.svg).

Every icon goes inline into reporter pages, so the loader must refuse anything but shapes; a page
carries the symbols it uses and no other; the icon is hidden from screen readers and stands next to
visible text; in Chromium at 320 px the icons are drawn, at a sensible size, on both sides of the
page's reading direction.
"""

from __future__ import annotations

import re
from pathlib import Path

import brotli
import pytest

import intake
from cases.questionnaire import ACT_TYPES, DANGER, QUESTIONS, STAGES
from intake.i18n import LANGUAGES
from intake.icons import CHOICE_ICONS, ICON_DIR, MAX_BYTES, STAGE_ICONS, IconError, Icons, parse

from .factories import file_case
from .live import open_page
from .reporter_helpers import PageFields
from .test_reporter_browser import open_status

ROOT = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
USE = re.compile(r'<svg class="i(?: f)?" aria-hidden="true"><use href="#i-([a-z0-9-]+)"/></svg>')


def svg(inner: str, root: str = ROOT) -> str:
    return f"{root}{inner}</svg>"


# -- the loader --------------------------------------------------------------------------------


HOSTILE = {
    "script element": (svg("<script>alert(1)</script>"), "<script> is not allowed"),
    "script in a group": (svg('<g><path d="M1 1h2"/><script>alert(1)</script></g>'), "<script> is not allowed"),
    "onload on the root": (
        svg('<path d="M1 1h2"/>', ROOT.replace("<svg ", '<svg onload="alert(1)" ')),
        "event handler",
    ),
    "onclick on a shape": (svg('<circle cx="1" cy="1" r="1" onclick="alert(1)"/>'), "event handler onclick"),
    "onmouseover upper case": (svg('<rect x="1" y="1" width="2" height="2" ONMOUSEOVER="x()"/>'), "event handler"),
    "plain href": (svg('<path d="M1 1h2" href="https://example.org/"/>'), "links elsewhere"),
    "xlink:href": (
        svg(
            '<path d="M1 1h2" xlink:href="#x"/>',
            ROOT.replace("<svg ", '<svg xmlns:xlink="http://www.w3.org/1999/xlink" '),
        ),
        "links elsewhere",
    ),
    "use element": (svg('<use href="https://example.org/x.svg#a"/>'), "<use> is not allowed"),
    "image element": (svg('<image href="https://example.org/x.png"/>'), "<image> is not allowed"),
    "a element": (svg('<a href="https://example.org/"><path d="M1 1h2"/></a>'), "<a> is not allowed"),
    "style attribute": (svg('<path d="M1 1h2" style="fill:red"/>'), "style="),
    "style element": (svg("<style>path{fill:url(https://example.org/)}</style>"), "<style> is not allowed"),
    "class attribute": (svg('<path d="M1 1h2" class="x"/>'), "class="),
    "foreignObject": (
        svg('<foreignObject><p xmlns="http://www.w3.org/1999/xhtml">hi</p></foreignObject>'),
        "<foreignObject> is not allowed",
    ),
    "html element": (svg('<p xmlns="http://www.w3.org/1999/xhtml">hi</p>'), "is not SVG"),
    "paint from a url": (svg('<path d="M1 1h2" fill="url(https://example.org/#p)"/>'), "currentColor or none"),
    "a fixed colour": (svg('<path d="M1 1h2" stroke="#f00"/>'), "currentColor or none"),
    "words in path data": (svg('<path d="javascript:alert(1)"/>'), "numbers only"),
    "text": (svg("<g>Threats</g>"), "holds text"),
    "entity": ('<!DOCTYPE svg [<!ENTITY a "aaaa">]>' + svg('<path d="M1 1h2"/>'), "no DOCTYPE"),
    "another viewBox": (svg('<path d="M1 1h2"/>', ROOT.replace("0 0 24 24", "0 0 48 48")), "the root may only state"),
    "not svg": ('<html xmlns="http://www.w3.org/1999/xhtml"/>', "the root must be <svg"),
    "too precise": (svg('<path d="M1.25 1h2"/>'), "more than one decimal"),
    "too precise without a leading digit": (svg('<circle cx="1" cy="1" r=".25"/>'), "more than one decimal"),
    "too big": (svg('<path d="' + "M1 1h2" * 120 + '"/>'), f"keep an icon under {MAX_BYTES}"),
    "empty": (svg(""), "draws nothing"),
    "broken xml": (svg("<path>"), "not well-formed"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_loader_refuses_anything_but_shapes_with_a_clear_error(name: str) -> None:
    text, expected = HOSTILE[name]
    with pytest.raises(IconError) as refused:
        parse("intake/icons/bad.svg", text)
    assert expected in str(refused.value) and str(refused.value).startswith("intake/icons/bad.svg: ")


def test_a_hostile_file_stops_the_intake_from_starting(tmp_path: Path, monkeypatch, settings, database) -> None:
    for path in ICON_DIR.glob("*.svg"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "threats.svg").write_text(svg('<path d="M1 1h2" onload="alert(1)"/>'))
    monkeypatch.setattr("intake.icons.ICON_DIR", tmp_path)
    with pytest.raises(IconError, match=r"threats\.svg: <path> has the event handler onload="):
        intake.create_app(settings, database)


def test_the_table_names_no_icon_without_its_file(tmp_path: Path) -> None:
    for path in ICON_DIR.glob("*.svg"):
        if path.stem != "killing":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    with pytest.raises(IconError, match=r"names icons with no file: \['killing'\]"):
        Icons.load(tmp_path)


def test_what_the_loader_emits_is_rebuilt_from_the_checked_shapes() -> None:
    inner = parse("x.svg", svg('<!-- a note --><g fill="currentColor"><circle cx="5" cy="5" r="1"/></g>\n'))
    assert inner == '<g fill="currentColor"><circle cx="5" cy="5" r="1"/></g>'


def test_every_shipped_icon_loads_and_is_tiny() -> None:
    icons = Icons.load()
    files = sorted(path.stem for path in ICON_DIR.glob("*.svg"))
    assert sorted(icons.symbols) == files
    for path in ICON_DIR.glob("*.svg"):
        assert len(path.read_bytes()) <= 400, f"{path.name}: keep icons to a few hundred bytes"
    assert set(files) == {*CHOICE_ICONS.values(), *STAGE_ICONS.values()}, "every file is used, every use has a file"


def test_the_table_covers_the_questions_it_was_asked_for() -> None:
    for (question, choice), name in CHOICE_ICONS.items():
        assert question in QUESTIONS, f"{question}: not a question"
        assert choice == "" or choice in QUESTIONS[question].values(), f"{question}={choice}: not a choice"
        assert (ICON_DIR / f"{name}.svg").is_file()
    assert {c.value for c in ACT_TYPES} <= {c for q, c in CHOICE_ICONS if q == "act_types"}
    assert QUESTIONS["situation"].values() <= {c for q, c in CHOICE_ICONS if q == "situation"}
    assert ("danger", "") in CHOICE_ICONS and DANGER.name == "danger"
    assert set(STAGES) == set(STAGE_ICONS)
    harms = [CHOICE_ICONS["act_types", c.value] for c in ACT_TYPES]
    assert len(set(harms)) == len(harms) == 16, "each harm its own picture"


# -- the page carries exactly the symbols it uses ------------------------------------------------


def sprite_problems(html: str) -> list[str]:
    """What is wrong with a page's icons: a <use> without its symbol, a symbol nobody uses, a
    symbol twice, a sprite that is not one hidden <svg>."""
    used = set(USE.findall(html))
    if html.count('<svg class="i') != len(USE.findall(html)):
        return ["an icon that is not the loader's <use>"]
    sprites = re.findall(r"<svg hidden>(.*?)</svg>", html, re.S)
    if not used:
        return ["a sprite without icons"] if sprites or "<symbol" in html else []
    if len(sprites) != 1:
        return [f"{len(sprites)} sprites"]
    ids = re.findall(r'<symbol id="i-([a-z0-9-]+)" viewBox="0 0 24 24">', sprites[0])
    problems = [f"no symbol for {name}" for name in sorted(used - set(ids))]
    problems += [f"unused symbol {name}" for name in sorted(set(ids) - used)]
    problems += [f"symbol {name} twice" for name in sorted({i for i in ids if ids.count(i) > 1})]
    if html.count("<symbol") != len(ids):
        problems.append("a symbol outside the sprite")
    return problems


def test_the_sprite_check_catches_each_mistake() -> None:
    use = '<svg class="i" aria-hidden="true"><use href="#i-{}"/></svg>'
    symbol = '<symbol id="i-{}" viewBox="0 0 24 24"><path d="M1 1h2"/></symbol>'
    good = use.format("a") + "<svg hidden>" + symbol.format("a") + "</svg>"
    assert sprite_problems(good) == []
    assert sprite_problems(use.format("a") + use.format("b") + "<svg hidden>" + symbol.format("a") + "</svg>") == [
        "no symbol for b"
    ]
    assert sprite_problems(use.format("a") + "<svg hidden>" + symbol.format("a") + symbol.format("b") + "</svg>") == [
        "unused symbol b"
    ]
    assert sprite_problems(use.format("a") + "<svg hidden>" + symbol.format("a") * 2 + "</svg>") == ["symbol a twice"]
    assert sprite_problems("<svg hidden>" + symbol.format("a") + "</svg>") == ["a sprite without icons"]
    assert sprite_problems(good + '<svg class="i"><use href="https://example.org/#a"/></svg>') != []


def _status_page(intake_client, settings, database, lang: str = "en") -> str:
    filed = file_case(database, settings=settings)
    lookup = PageFields.of(intake_client.get(f"/{lang}/status").get_data(as_text=True)).no_js_form()
    page = intake_client.post(f"/{lang}/status", data={**lookup, "token": filed.token})
    assert page.status_code == 200 and 'class="timeline"' in page.get_data(as_text=True)
    return str(page.get_data(as_text=True))


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_the_form_carries_exactly_the_symbols_it_uses(intake_client, lang: str) -> None:
    html = intake_client.get(f"/{lang}/").get_data(as_text=True)
    assert sprite_problems(html) == []
    used = set(USE.findall(html))
    # Whatever questions the form shows, each shown choice of the table has its icon.
    for (question, choice), name in CHOICE_ICONS.items():
        if f'name="{question}" value="{choice}"' in html or (not choice and f'id="q-{question}"' in html):
            assert name in used, f"{question}={choice} shown without its icon"
    assert "danger" in used


def test_pages_without_icons_carry_no_sprite(intake_client) -> None:
    for path in ("/en/status", "/ar/safety", "/en/no-such-page"):
        html = intake_client.get(path).get_data(as_text=True)
        assert "<symbol" not in html and "<svg" not in html, path


def test_the_status_timeline_has_an_icon_per_stage(intake_client, settings, database, forms_without_wait) -> None:
    html = _status_page(intake_client, settings, database)
    assert sprite_problems(html) == []
    timeline = html[html.index('<ol class="timeline">') : html.index("</ol>")]
    shown = re.findall(r'<li class="(done|todo)">' + USE.pattern + r"<strong>([^<]+)</strong>", timeline)
    assert [(state, name) for state, name, _ in shown] == [
        ("done", "received"),
        ("todo", "review"),
        ("todo", "action"),
        ("todo", "closed"),
    ]


# -- hidden from screen readers, next to visible words -------------------------------------------


def _label_text(html: str, start: int) -> str:
    """The text of the element an icon starts in, from the icon to that element's end."""
    end = min(i for i in (html.find(t, start) for t in ("</label>", "</legend>", "</li>")) if i >= 0)
    return re.sub(r"<[^>]+>", "", html[start:end]).strip()


@pytest.mark.parametrize("lang", ["en", "ar", "zh"])
def test_each_icon_is_hidden_from_screen_readers_beside_its_words(
    intake_client, settings, database, forms_without_wait, lang: str
) -> None:
    for html in (
        intake_client.get(f"/{lang}/").get_data(as_text=True),
        _status_page(intake_client, settings, database, lang),
    ):
        icons = list(re.finditer(r"<svg class=\"i[^>]*>", html))
        assert icons
        for found in icons:
            assert 'aria-hidden="true"' in found.group(0)
            words = _label_text(html, found.end())
            assert len(words) >= 2, f"icon without words: {html[found.start() : found.start() + 200]}"


# -- what it costs ------------------------------------------------------------------------------


def test_the_sprite_cost_per_page_stays_small(intake_client, settings, database, forms_without_wait) -> None:
    """Brotli bytes the icons add (quality 6, as web.compress sends); the figures are in the README."""
    pages = {f"/{lang}/": intake_client.get(f"/{lang}/").get_data(as_text=True) for lang in ("en", "ru")}
    pages["status"] = _status_page(intake_client, settings, database)
    for where, html in pages.items():
        bare = USE.sub("", re.sub(r"<svg hidden>.*?</svg>", "", html, flags=re.S))
        cost = len(brotli.compress(html.encode(), quality=6)) - len(brotli.compress(bare.encode(), quality=6))
        assert 0 < cost <= 1100, (where, cost)


# -- in Chromium, at 320 px ---------------------------------------------------------------------


def open_status_in(page, live, token: str, lang: str) -> None:
    page.goto(f"{live.url}/{lang}/status")
    page.fill("#token", token)
    page.click("form.pow button")
    page.wait_for_selector("#follow-up", timeout=30_000)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_icons_are_drawn_and_sized_at_320_px(browser, live, lang: str) -> None:
    page = open_page(browser, live, js=True, viewport={"width": 320, "height": 640})
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    filed = file_case(live.database, settings=live.settings)
    try:
        # The harm types and the situation are asked on the details page (the quick path's step 3).
        open_status_in(page, live, filed.token or "", lang)
        page.click("#add-details button")
        page.wait_for_selector("form#details")
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('svg.i')].map(i => {
                const r = i.getBoundingClientRect(), drawn = i.querySelector('use').getBBox();
                const label = i.closest('label, legend'), words = document.createRange();
                words.selectNodeContents(label); words.setStartAfter(i);
                const w = words.getClientRects()[0], t = label.getBoundingClientRect();
                return {name: i.querySelector('use').getAttribute('href'), w: r.width, h: r.height,
                        drawn: drawn.width * drawn.height, visible: getComputedStyle(i).visibility,
                        left: r.left, right: r.right, wordsLeft: w.left, wordsRight: w.right,
                        target: label.tagName === 'LABEL' ? t.height : 24,
                        overflow: document.documentElement.scrollWidth};
            })"""
        )
        assert len(boxes) >= 1
        for box in boxes:
            assert 0 < box["w"] <= 40 and 0 < box["h"] <= 40, box
            assert box["drawn"] > 0, f"{box['name']}: nothing drawn (a missing symbol?)"
            assert box["visible"] == "visible"
            assert box["target"] >= 24, f"{box['name']}: the answer's target is under 24 px"
            assert box["overflow"] <= 320, "the page scrolls sideways at 320 px"
            # The icon comes first in the reading direction: left of its words, or right of them in Arabic.
            if lang == "ar":
                assert box["left"] >= box["wordsRight"] - 1, box
            else:
                assert box["right"] <= box["wordsLeft"] + 1, box
        mirrored = page.evaluate(
            "() => [...document.querySelectorAll('svg.i.f')].map(i => getComputedStyle(i).transform)"
        )
        assert mirrored and set(mirrored) == ({"matrix(-1, 0, 0, 1, 0, 0)"} if lang == "ar" else {"none"})
        sprite = page.evaluate("() => document.querySelector('svg[hidden]').getBoundingClientRect().height")
        assert sprite == 0, "the sprite takes no room"
        assert not refused and not page.js_errors, (refused, page.js_errors)
    finally:
        page.context.close()


@pytest.mark.slow
def test_the_timeline_icons_are_drawn_in_chromium(browser, live) -> None:
    filed = file_case(live.database, settings=live.settings)
    page = open_page(browser, live, js=True, viewport={"width": 320, "height": 640})
    try:
        open_status(page, live, filed.token or "", js=True)
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.timeline svg.i')].map(i => "
            "[i.getBoundingClientRect().width, i.querySelector('use').getBBox().width])"
        )
        assert len(drawn) == 4 and all(0 < w <= 40 and inner > 0 for w, inner in drawn), drawn
    finally:
        page.context.close()
