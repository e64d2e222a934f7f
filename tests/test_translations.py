"""Every reporter-facing string is translated into every offered language, and the compiled
catalogues the app loads are the ones in the repository."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from cases.languages import LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = ROOT / "cases" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|%%")
# Words that are the same in some languages (checked by the translators).
SAME_ALLOWED = {("fr", "Messages"), ("es", "No")}
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def _po(code: str):
    with open(CATALOGUES / code / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=code)


def _template_ids() -> set[str]:
    with open(CATALOGUES / "messages.pot", "rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


@pytest.mark.parametrize("code", TRANSLATED)
def test_catalogue_is_complete_with_matching_placeholders(code: str) -> None:
    catalog = _po(code)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert ids == _template_ids(), "catalogue out of date: run pybabel update"
    for message in catalog:
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        targets = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(t.strip() for t in targets), f"{code}: untranslated {sources[0]!r}"
        assert not message.fuzzy, f"{code}: fuzzy {sources[0]!r}"
        if (code, sources[0]) not in SAME_ALLOWED:
            assert targets[0] != sources[0], f"{code}: English left in {sources[0]!r}"
        expected = set(PLACEHOLDER.findall(sources[-1]))
        for target in targets:
            assert set(PLACEHOLDER.findall(target)) == expected, f"{code}: placeholders differ in {sources[0]!r}"


def _entries(catalog) -> dict:
    as_tuple = lambda v: v if isinstance(v, str) else tuple(v)  # noqa: E731 - plural forms are lists
    return {as_tuple(m.id): as_tuple(m.string) for m in catalog if m.id}


@pytest.mark.parametrize("code", TRANSLATED)
def test_compiled_catalogue_matches_its_source(code: str) -> None:
    buffer = io.BytesIO()
    write_mo(buffer, _po(code))
    buffer.seek(0)
    expected = _entries(read_mo(buffer))
    with open(CATALOGUES / code / "LC_MESSAGES" / "messages.mo", "rb") as fh:
        shipped = _entries(read_mo(fh))
    assert shipped == expected, "stale .mo: run pybabel compile -d cases/translations"


@pytest.mark.parametrize("code", TRANSLATED)
def test_pages_show_no_english(code: str, intake_client) -> None:
    for path in ("/", "/status", "/safety"):
        html = intake_client.get(f"/{code}{path}").get_data(as_text=True)
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S))
        for english in ("What happened", "Leave this site quickly", "Your token", "Staying safe", "required"):
            assert english not in text, f"{code}{path}: {english!r} shows through"
