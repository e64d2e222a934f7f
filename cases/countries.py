"""Countries: ISO 3166-1 alpha-2 codes named from Babel's CLDR data, never a hand-written list.

The report form offers every country by its code, named in the reporter's language; the desk
stores and groups by the code, so "Kenya", "kenya" and "肯尼亚" are one country in its filters and
statistics. A place that is not in the list stays free text.

A country *value* (in the inbox index, the triage, the statistics) is one string: a code from
``CODES``, or else free text a person wrote. ``canonical`` turns any value into that form and is
idempotent; reports sealed before the list existed hold free text, which is read as its code when
it is a CLDR name in one of the six languages (``match``): the server cannot rewrite them, since
it holds no private key, so they are migrated each time they are read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping

from babel import Locale

from .languages import DEFAULT, LANGUAGES

#: The report form's "not in the list" choice; the place is then written in ``country_other``.
OTHER = "other"

# CLDR territories that are not ISO 3166-1 countries: unknown region, groupings (EU, eurozone,
# UN, outlying Oceania), pseudo-locales, and the "exceptionally reserved" codes (Ascension,
# Clipperton, Sark, Diego Garcia, Ceuta and Melilla, Canary Islands, Tristan da Cunha), whose
# places also belong to a listed country. XK (Kosovo) is kept: a user-assigned code, but the one
# CLDR, the EU and the IMF use, and reporters there must be able to pick their country.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "AC", "CP", "CQ", "DG", "EA", "IC", "TA"})
_ALPHA2 = re.compile(r"[A-Z]{2}")


def _names(lang: str) -> Mapping[str, str]:
    return Locale.parse(lang).territories


CODES: frozenset[str] = frozenset(
    code for code in _names(DEFAULT) if _ALPHA2.fullmatch(code) and code not in _NOT_COUNTRIES
)


_ARABIC = str.maketrans("أإآٱى", "ااااي")  # hamza and wasla forms with alif, alif maqsura with ya


def _sort_key(lang: str, name: str) -> tuple[str, str]:
    """An ordering acceptable to readers of ``lang`` without ICU (which Babel does not ship).

    Latin scripts: accents and case ignored at first (Spanish keeps ñ after n); Russian: ё with е;
    Arabic: the hamza and alif forms with alif, alif maqsura with ya (Unicode's Arabic block is in
    alphabetical order otherwise); Chinese: the Unified Ideographs block is in radical-and-stroke
    order, one of the orders Chinese dictionaries use (pinyin would need data Babel lacks).
    """
    text = name.casefold()
    if lang == "es":
        text = text.replace("ñ", "n\U0010ffff")
    elif lang == "ru":
        text = text.replace("ё", "е")
    elif lang == "ar":
        text = text.translate(_ARABIC)
    base = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return base, name


@functools.lru_cache(maxsize=len(LANGUAGES) + 1)
def choices(lang: str) -> tuple[tuple[str, str], ...]:
    """Every country as (code, name in ``lang``), sorted for readers of that language."""
    lang = lang if lang in LANGUAGES else DEFAULT
    names = _names(lang)
    return tuple(sorted(((code, names[code]) for code in CODES), key=lambda pair: _sort_key(lang, pair[1])))


def name(code: str, lang: str = DEFAULT) -> str:
    """The country's name in ``lang`` (English if that language is not offered)."""
    return _names(lang if lang in LANGUAGES else DEFAULT).get(code, code)


def label(value: str, lang: str = DEFAULT) -> str:
    """A country value as a person reads it: "Kenya (KE)" for a code, free text as written."""
    return f"{name(value, lang)} ({value})" if value in CODES else value


def _key(text: str) -> str:
    """What matching ignores: compatibility forms, case, spacing and the apostrophe's shape."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").replace("\u02bc", "'")
    return " ".join(folded.split())


@functools.cache
def _by_name() -> dict[str, str]:
    """Every CLDR name of every country in the six languages, matching key -> code; a key two
    countries share (none today) is left out rather than guessed."""
    found: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        for code, local in _names(lang).items():
            if code in CODES:
                found.setdefault(_key(local), set()).add(code)
    return {key: next(iter(codes)) for key, codes in found.items() if len(codes) == 1}


def match(text: str) -> str | None:
    """The code of a country written out in full in one of the six languages, else None."""
    return _by_name().get(_key(text))


def canonical(value: object) -> str:
    """A code, or free text that is no country's name (trimmed, otherwise as written: every
    reader escapes it, and statistics clean it further), or "" (idempotent)."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if text in CODES:
        return text
    if text == OTHER:
        return ""
    return match(text) or text


def resolve(country: object, other: object = "") -> str:
    """The country a form (report or triage) stated, from its list choice and "other" text.

    A listed code wins; otherwise the text (a place not in the list, or a report sealed before
    the list, whose ``country`` is free text) is read as a code where it names a country.
    """
    chosen = canonical(country)
    return chosen or canonical(other)
