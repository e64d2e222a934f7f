"""Turning the form into the report that gets sealed, and checking it, for the no-JS path.

The browser builds exactly the same JSON (intake/static/app.js) from the same form, so a
caseworker cannot tell which path a report took except by the case's ``sealed_in`` flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from cases.questionnaire import QUESTIONS, REPORT_VERSION


def collect(form: MultiDict[str, str]) -> dict[str, str | list[str]]:
    """Keep only known questions and allowed choices; drop what is empty."""
    answers: dict[str, str | list[str]] = {}
    for name, question in QUESTIONS.items():
        if question.kind == "many":
            values = [v for v in form.getlist(name) if v in question.values()]
            if values:
                answers[name] = values
        elif question.kind == "one":
            value = form.get(name, "")
            if value in question.values():
                answers[name] = value
        else:
            value = form.get(name, "").replace("\r\n", "\n").strip()
            if value:
                answers[name] = value
    return answers


def problems(answers: Mapping[str, str | list[str]]) -> dict[str, str]:
    """Plain-language messages keyed by question name; empty when the report can be sent."""
    errors: dict[str, str] = {}
    for name, question in QUESTIONS.items():
        value = answers.get(name)
        if question.required and not value:
            errors[name] = _("Please tell us what happened. It is the only question you must answer.")
        elif isinstance(value, str) and len(value) > question.max_length:
            errors[name] = _(
                "This answer is too long: %(length)d characters, at most %(limit)d. "
                "You can send the rest as a follow-up message.",
                length=len(value),
                limit=question.max_length,
            )
    return errors


def report_json(answers: Mapping[str, str | list[str]], lang: str) -> bytes:
    return json.dumps(
        {"v": REPORT_VERSION, "lang": lang, "answers": dict(answers)}, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def is_urgent(answers: Mapping[str, str | list[str]]) -> bool:
    return answers.get("danger") == "yes"
