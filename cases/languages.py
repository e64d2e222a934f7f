"""The languages reporters are served in, and the catalogues that carry the questionnaire.

One list for both apps: the intake offers exactly these, and the desk labels reports and offers
its own interface in them. The catalogues (gettext .po compiled to .mo) hold the reporter form's
text, the questionnaire included; the desk reads the questionnaire's labels from them too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from babel.support import NullTranslations, Translations

CATALOGUES = Path(__file__).resolve().parent / "translations"
# A language code (with an optional region or script), so that only a code ever reaches a path.
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself, so people recognise their own
    rtl: bool = False


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English"),
        Language("fr", "Français"),
        Language("es", "Español"),
        Language("ar", "العربية", rtl=True),
        Language("zh", "中文"),
        Language("ru", "Русский"),
    )
}
DEFAULT = "en"


@functools.lru_cache(maxsize=16)
def catalogue(language: str | None) -> NullTranslations:
    """The reporter form's catalogue for a language; English (the msgids) otherwise."""
    if language is None or language == DEFAULT or not LANGUAGE_CODE.fullmatch(language):
        return NullTranslations()
    return Translations.load(dirname=str(CATALOGUES), locales=[language])
