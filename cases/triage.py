"""The caseworkers' triage of a case: one sealed document, never a clear column.

Verification, act types, perpetrators, UN link, country and referrals are what caseworkers
write about a case; each can identify or endanger a reporter, so they travel together in one
envelope of purpose triage to the current intake key, bound to the case by its context. Only
urgency stays in clear (Case.urgent), because the inbox must sort on it without a key.

Layout (version 1)::

    {"v": 1, "verification": "unverified", "act_types": [...], "perpetrator": [...],
     "un_link": [...], "country": "...", "referrals": [{"to": "...", "on": "YYYY-MM-DD",
     "outcome": "...", "authorities": false}]}

``country`` is one country value (cases.countries): an ISO 3166-1 code, or the place as a
caseworker wrote it when it is not in the list. The form sends a list choice (``country``: a
code, "" or "other") and ``country_other``; a triage stored before the list held free text, read
as its code where it names a country.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from crypto.envelope import Purpose, open_envelope, seal
from crypto.errors import OpenError
from crypto.keys import PrivateKey

from . import bounded_json, countries, errors
from .conversation import context
from .intake_keys import current
from .models import Case
from .questionnaire import QUESTIONS

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


class Invalid(errors.Invalid):
    """A triage value outside the allowed vocabulary or limits; nothing was stored."""


class Unreadable(errors.Refused):
    """The stored triage cannot be opened with these keys: it must not be overwritten either
    (re-sealing would silently drop the referrals we could not read)."""

    def __init__(self) -> None:
        super().__init__("The stored triage is sealed to a key you do not hold; ask an admin to grant it.")


@dataclass(frozen=True)
class Referral:
    to: str
    on: str  # YYYY-MM-DD
    outcome: str = ""
    authorities: bool = False


@dataclass(frozen=True)
class Triage:
    verification: str = "unverified"
    act_types: tuple[str, ...] = ()
    perpetrator: tuple[str, ...] = ()
    un_link: tuple[str, ...] = ()
    country: str = ""
    referrals: tuple[Referral, ...] = ()

    def document(self) -> dict[str, Any]:
        """The stored (and exported) JSON layout."""
        return {
            "v": VERSION,
            "verification": self.verification,
            **{name: list(getattr(self, name)) for name in CHOICE_FIELDS},
            "country": self.country,
            "referrals": [
                {"to": r.to, "on": r.on, "outcome": r.outcome, "authorities": r.authorities} for r in self.referrals
            ],
        }

    def changed(self, old: Triage) -> list[str]:
        """Names (never values) of the fields that differ: what the audit trail may say."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(old, f.name)]


def choices(name: str) -> list[str]:
    """Allowed values of a choice field, in the form's order."""
    return [c.value for c in QUESTIONS[name].choices]


def _pick(name: str, values: Iterable[object], strict: bool) -> tuple[str, ...]:
    wanted = {str(v) for v in values}
    if strict and wanted - set(choices(name)):
        raise Invalid(f"{name}: a value is not in the list")
    return tuple(v for v in choices(name) if v in wanted)


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


def referral(to: object, on: object, outcome: object = "", authorities: object = False) -> Referral:
    recipient = _text(to, MAX_REFERRAL_TO, "the referral's recipient")
    if not recipient:
        raise Invalid("say to whom the case was referred")
    return Referral(recipient, _day(str(on)), _text(outcome, MAX_OUTCOME, "the outcome"), bool(authorities))


def _country(raw: Mapping[str, Any], strict: bool) -> str:
    chosen = _text(raw.get("country"), MAX_COUNTRY, "the country")
    if strict and chosen not in ("", countries.OTHER, *countries.CODES) and "country_other" in raw:
        raise Invalid("country: a value is not in the list")
    return countries.resolve(chosen, _text(raw.get("country_other"), MAX_COUNTRY, "the country"))[:MAX_COUNTRY]


def normalise(raw: Mapping[str, Any], strict: bool = True) -> Triage:
    """A valid triage from a form (strict), or from storage (lenient: a value the
    questionnaire has since dropped is left out rather than locking the case's triage)."""
    verification = raw.get("verification") or "unverified"
    if verification not in VERIFICATION:
        raise Invalid("verification must be unverified, credible or confirmed")
    referrals = raw.get("referrals") or []
    if len(referrals) > MAX_REFERRALS:
        raise Invalid("too many referrals")
    return Triage(
        verification=verification,
        act_types=_pick("act_types", raw.get("act_types") or [], strict),
        perpetrator=_pick("perpetrator", raw.get("perpetrator") or [], strict),
        un_link=_pick("un_link", raw.get("un_link") or [], strict),
        country=_country(raw, strict),
        referrals=tuple(
            referral(r.get("to", ""), r.get("on", ""), r.get("outcome", ""), r.get("authorities", False))
            for r in referrals
        ),
    )


def suggested(answers: Mapping[str, object]) -> Triage:
    """What the reporter said, as a starting point for a first triage (nothing is stored)."""
    raw: dict[str, Any] = {name: value for name in CHOICE_FIELDS if isinstance(value := answers.get(name), list)}
    raw["country"] = countries.resolve(answers.get("country"), answers.get("country_other"))[:MAX_COUNTRY]
    return normalise(raw, strict=False)


def _context(case: Case) -> bytes:
    return context(case, "triage")


def load(private_keys: dict[bytes, PrivateKey], case: Case) -> Triage:
    """The case's triage, or an empty one. Raises OpenError if it exists but cannot be opened
    (a key this caseworker was not granted): callers must not overwrite what they cannot read."""
    if case.triage_envelope is None:
        return Triage()
    raw = open_envelope(private_keys, Purpose.TRIAGE, case.triage_envelope, context=_context(case))
    try:
        document = bounded_json.loads(raw, BOUNDS)
        if not isinstance(document, dict):
            raise Invalid("not a JSON object")
        return normalise(document, strict=False)
    except (ValueError, TypeError, AttributeError) as exc:  # BoundedJSONError and Invalid included
        raise OpenError("the stored triage is malformed") from exc


def load_for_update(private_keys: dict[bytes, PrivateKey], case: Case) -> Triage:
    """The stored triage for a read-modify-write; ``Unreadable`` if it cannot be opened."""
    try:
        return load(private_keys, case)
    except OpenError:
        raise Unreadable() from None


def store(session: Session, case: Case, triage: Triage) -> None:
    """Seal the whole document to the current intake key (re-sealing moves old cases forward)."""
    body = json.dumps(triage.document(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context=_context(case))
