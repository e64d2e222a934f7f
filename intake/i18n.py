"""Languages: the reporter chooses one (it is in the URL), never guessed from an IP address.

Catalogues (gettext .po, compiled to .mo) live in cases/translations, shared with the desk
(cases/languages.py). Drafted translations are marked "fuzzy"-free but carry a "Needs human
review" note in their header until a native speaker has checked them.

The intake's modules translate with ``gettext`` and ``lazy_gettext`` from here (imported as
``_``, which is what the catalogue extraction looks for): Flask-Babel ships no type information.
"""

from __future__ import annotations

from flask import Flask, g
from flask_babel import Babel
from flask_babel import gettext as _gettext
from flask_babel import lazy_gettext as _lazy_gettext

from cases.languages import CATALOGUES, DEFAULT, LANGUAGES, Language
from cases.questionnaire import STAGES

__all__ = ["DEFAULT", "LANGUAGES", "configure", "current", "gettext", "lazy_gettext"]


def gettext(message: str, **variables: object) -> str:
    """``message`` in the request's language, with ``%(name)s`` placeholders filled in."""
    return str(_gettext(message, **variables))


def lazy_gettext(message: str, **variables: object) -> str:
    """For module-level messages: translated each time it is shown, in that request's language."""
    lazy: str = _lazy_gettext(message, **variables)
    return lazy


def current() -> Language:
    return LANGUAGES.get(getattr(g, "lang", DEFAULT), LANGUAGES[DEFAULT])


def configure(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(CATALOGUES)
    Babel(app, locale_selector=lambda: current().code)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current, stages=STAGES)
