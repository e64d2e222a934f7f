"""Languages: the reporter chooses one (it is in the URL), never guessed from an IP address.

Catalogues live in intake/translations (gettext .po, compiled to .mo). Drafted translations are
marked "fuzzy"-free but carry a "Needs human review" note in their header until a native
speaker has checked them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from flask_babel import Babel

from cases.questionnaire import STAGES


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


def current() -> Language:
    return LANGUAGES.get(getattr(g, "lang", DEFAULT), LANGUAGES[DEFAULT])


def configure(app) -> Babel:  # type: ignore[no-untyped-def]
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    babel = Babel(app, locale_selector=lambda: current().code)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current, stages=STAGES)
    return babel
