"""The caseworkers' triage of a case: one sealed document, never a clear column.

Verification, act types, perpetrators, UN link, country and referrals are what caseworkers
write about a case; each can identify or endanger a reporter, so they travel together in one
envelope of purpose triage to the current intake key, bound to the case by its context. Only
urgency stays in clear (Case.urgent), because the inbox must sort on it without a key.

Layout (version 1)::

    {"v": 1, "verification": "unverified", "act_types": [...], "perpetrator": [...],
     "un_link": [...], "country": "...", "referrals": [{"to": "...", "on": "YYYY-MM-DD",
     "outcome": "...", "authorities": false}]}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from cases import bounded_json
from cases.conversation import context
from cases.intake_keys import current
from cases.models import Case
from cases.questionnaire import QUESTIONS
from crypto.envelope import Purpose, open_envelope, seal
from crypto.errors import OpenError
from crypto.keys import PrivateKey

VERSION = 1
VERIFICATION = ("unverified", "credible", "confirmed")
CHOICE_FIELDS = ("act_types", "perpetrator", "un_link")  # same vocabularies as the report form
FIELDS = ("verification", *CHOICE_FIELDS, "country")
MAX_COUNTRY = 200
MAX_REFERRAL_TO = 500
MAX_OUTCOME = 5_000
MAX_REFERRALS = 200
# Written by the desk, but read back as untrusted as everything else in the database.
BOUNDS = bounded_json.Bounds(max_bytes=2 * 1024 * 1024, max_depth=6)


class Invalid(ValueError):
    """A triage value outside the allowed vocabulary or limits; nothing was stored."""


def _context(case: Case) -> bytes:
    return context(case, "triage")


def empty() -> dict[str, Any]:
    return {
        "v": VERSION,
        "verification": "unverified",
        "act_types": [],
        "perpetrator": [],
        "un_link": [],
        "country": "",
        "referrals": [],
    }


def choices(name: str) -> list[str]:
    """Allowed values of a choice field, in the form's order."""
    return [c.value for c in QUESTIONS[name].choices]


def _pick(name: str, values: Iterable[str], strict: bool) -> list[str]:
    wanted = {str(v) for v in values}
    if strict and wanted - set(choices(name)):
        raise Invalid(f"{name}: a value is not in the list")
    return [v for v in choices(name) if v in wanted]


def _day(text: str) -> str:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid("a referral date is a day, YYYY-MM-DD") from None
    return day.isoformat()  # day-granular by construction


def _text(value: object, limit: int, what: str) -> str:
    text = str(value or "").strip().replace("\r\n", "\n")
    if len(text) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return text


def referral(to: str, on: str, outcome: str = "", authorities: bool = False) -> dict[str, Any]:
    to = _text(to, MAX_REFERRAL_TO, "the referral's recipient")
    if not to:
        raise Invalid("say to whom the case was referred")
    return {
        "to": to,
        "on": _day(on),
        "outcome": _text(outcome, MAX_OUTCOME, "the outcome"),
        "authorities": bool(authorities),
    }


def normalise(raw: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A valid version-1 document from a form (strict), or from storage (lenient: a value the
    questionnaire has since dropped is left out rather than locking the case's triage)."""
    doc = empty()
    verification = raw.get("verification") or "unverified"
    if verification not in VERIFICATION:
        raise Invalid("verification must be unverified, credible or confirmed")
    doc["verification"] = verification
    for name in CHOICE_FIELDS:
        doc[name] = _pick(name, raw.get(name) or [], strict)
    doc["country"] = _text(raw.get("country"), MAX_COUNTRY, "the country")
    referrals = raw.get("referrals") or []
    if len(referrals) > MAX_REFERRALS:
        raise Invalid("too many referrals")
    doc["referrals"] = [
        referral(r.get("to", ""), r.get("on", ""), r.get("outcome", ""), r.get("authorities", False)) for r in referrals
    ]
    return doc


def load(private_keys: dict[bytes, PrivateKey], case: Case) -> dict[str, Any]:
    """The case's triage, or an empty one. Raises OpenError if it exists but cannot be opened
    (a key this caseworker was not granted): callers must not overwrite what they cannot read."""
    if case.triage_envelope is None:
        return empty()
    raw = open_envelope(private_keys, Purpose.TRIAGE, case.triage_envelope, context=_context(case))
    try:
        document = bounded_json.loads(raw, BOUNDS)
        if not isinstance(document, dict):
            raise Invalid("not a JSON object")
        return normalise(document, strict=False)
    except (ValueError, TypeError, AttributeError) as exc:  # BoundedJSONError and Invalid included
        raise OpenError("the stored triage is malformed") from exc


def store(session: Session, case: Case, doc: Mapping[str, Any]) -> None:
    """Seal the whole document to the current intake key (re-sealing moves old cases forward)."""
    body = json.dumps(normalise(doc, strict=False), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context=_context(case))


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names (never values) of the fields that differ: what the audit trail may say."""
    return [name for name in (*FIELDS, "referrals") if old.get(name) != new.get(name)]


def consent(report_answers: Mapping[str, Any]) -> dict[str, Any]:
    """What the reporter allowed. Anything but an explicit yes (or publish choice) is a no."""
    publish = report_answers.get("consent_publish")
    return {
        "act": report_answers.get("consent_act") == "yes",
        "authorities": report_answers.get("consent_authorities") == "yes",
        "publish": publish if publish in ("named", "anonymised") else "no",
    }
