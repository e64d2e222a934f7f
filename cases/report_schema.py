"""A report as the desk may read it: sealed JSON from an anonymous reporter, checked once into a
typed value before any page, export or statistic touches it.

The sealed report is whatever a reporter's client chose to seal (docs/protocol.md §14.1), so it
is parsed with bounds (``bounded_json``) and then held to the questionnaire: every answer the
form knows is a string, or a list of strings for a "many" question, each within twice the
question's length. Anything else makes the report ``Unreadable`` with a reason a caseworker can
act on; nothing further in can then meet a nested list, a number or a 10,000-deep document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import countries
from .bounded_json import BoundedJSONError, Bounds, loads
from .questionnaire import QUESTIONS

# A report holds at most ~40 answers of up to 100,000 characters; room to spare, no more.
REPORT_BOUNDS = Bounds(max_bytes=4 * 1024 * 1024, max_depth=8, max_string=200_000, max_members=20_000)
MAX_ITEMS = 64  # values of one "many" answer
MAX_LANG = 16

Answer = str | list[str]


class Unreadable(ValueError):
    """The report opened but is not one the desk can show; the message says why, in plain words."""


@dataclass(frozen=True)
class Report:
    lang: str
    answers: Mapping[str, Answer]  # known questions only, as typed values
    raw: Mapping[str, Any]  # the whole bounded document (the JSON export keeps unknown keys)


def _answer(name: str, value: object) -> Answer | None:
    question = QUESTIONS[name]
    # Twice the form's own limit: a real report that a browser counted differently (line ends,
    # combining characters) must still be readable; the bound is against pathological sizes.
    limit = max(2 * question.max_length, 1_000)
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > limit:
            raise Unreadable(f"the answer to {name!r} is longer than {limit} characters")
        return value
    if isinstance(value, list) and question.kind == "many":
        if not value:
            return None
        if len(value) > MAX_ITEMS:
            raise Unreadable(f"the answer to {name!r} has more than {MAX_ITEMS} values")
        if not all(isinstance(item, str) and len(item) <= limit for item in value):
            raise Unreadable(f"the answer to {name!r} holds something other than short text")
        return list(value)
    raise Unreadable(f"the answer to {name!r} is a {type(value).__name__}, not text")


def parse(plaintext: bytes) -> Report:
    """The typed report; raises ``Unreadable`` (never anything else) if it is not one."""
    try:
        document = loads(plaintext, REPORT_BOUNDS)
    except BoundedJSONError as exc:
        raise Unreadable(f"it is not valid JSON within the limits ({exc})") from None
    if not isinstance(document, dict):
        raise Unreadable("it is not a JSON object")
    answers = document.get("answers")
    if not isinstance(answers, dict):
        raise Unreadable("its answers are not a JSON object")
    lang = document.get("lang", "")
    if not isinstance(lang, str) or len(lang) > MAX_LANG:
        raise Unreadable("its language is not a short text")
    typed = {name: value for name in QUESTIONS if (value := _answer(name, answers.get(name))) is not None}
    return Report(lang=lang, answers=_country(typed), raw=document)


def _country(answers: dict[str, Answer]) -> dict[str, Answer]:
    """``country`` as one country value (cases.countries): the listed code, else the reporter's
    words, read as a code where they name a country in one of the six languages. That is how
    reports sealed before the list, whose ``country`` is free text, are migrated: on reading,
    since only the desk can open them. ``country_other`` stays only if it says more than that."""
    chosen, other = answers.get("country"), answers.get("country_other")
    country = countries.resolve(chosen, other)
    answers.pop("country", None)
    if country:
        answers["country"] = country
    if isinstance(other, str) and countries.canonical(chosen) == "" and countries.resolve("", other) == country:
        answers.pop("country_other", None)  # it was the country, and is now said once
    return answers
