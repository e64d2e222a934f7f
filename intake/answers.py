"""Turning the no-JS form's answers (parsed by intake.forms.ReportForm) into the sealed report.

The browser builds exactly the same JSON (intake/static/app.js) from the same form, so a
caseworker cannot tell which path a report took except by the case's ``sealed_in`` flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cases.questionnaire import REPORT_VERSION


def report_json(answers: Mapping[str, str | list[str]], lang: str) -> bytes:
    return json.dumps(
        {"v": REPORT_VERSION, "lang": lang, "answers": dict(answers)}, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def is_urgent(answers: Mapping[str, str | list[str]]) -> bool:
    return answers.get("danger") == "yes"
