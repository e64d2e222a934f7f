"""Languages: the reporter chooses one (it is in the URL), never guessed from an IP address.

Catalogues (gettext .po, compiled to .mo) live in cases/translations, shared with the desk
(cases/languages.py). Drafted translations are marked "fuzzy"-free but carry a "Needs human
review" note in their header until a native speaker has checked them.
"""

from __future__ import annotations

from flask import g
from flask_babel import Babel

from cases.languages import CATALOGUES, DEFAULT, LANGUAGES, Language
from cases.questionnaire import STAGES


def current() -> Language:
    return LANGUAGES.get(getattr(g, "lang", DEFAULT), LANGUAGES[DEFAULT])


def configure(app) -> Babel:  # type: ignore[no-untyped-def]
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(CATALOGUES)
    babel = Babel(app, locale_selector=lambda: current().code)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current, stages=STAGES)
    return babel
