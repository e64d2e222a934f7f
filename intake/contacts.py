"""Emergency contacts shown to reporters in danger (RRI_EMERGENCY_CONTACTS, README "Emergency
contacts"): parsed once, strictly, when the app starts, so a bad file fails then and not on a
reporter's page.

Links (tel:, sms:, signal.me, wa.me) are built only from the digits of a number that was checked
to be nothing but a phone number; free text is only ever shown as escaped text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cases.languages import LANGUAGES

PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{2,30}\Z")
MIN_DIGITS = 3  # emergency numbers such as 112
FIELDS = {"name", "note", "region", "contact", "phone", "sms", "signal", "whatsapp", "languages"}


def N_(text: str) -> str:
    """Marks a message for the catalogues; translated when shown."""
    return text


class BadContacts(ValueError):
    """The contacts file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Link:
    kind: str  # "tel", "sms", "signal", "whatsapp": the template labels it
    href: str  # built from digits only
    shown: str  # the number as configured (checked: digits and separators only)


@dataclass(frozen=True)
class Contact:
    name: Mapping[str, str]  # language code -> text; "" is the fallback
    note: Mapping[str, str] = field(default_factory=dict)
    region: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    languages: frozenset[str] = frozenset()  # shown only on these language pages; empty: on all
    builtin: bool = False  # texts are catalogue messages, translated when shown

    def shown_in(self, lang: str) -> bool:
        return not self.languages or lang in self.languages

    def text(self, which: str, lang: str) -> str:
        texts: Mapping[str, str] = getattr(self, which)
        return texts.get(lang) or texts.get("en") or texts.get("") or next(iter(texts.values()), "")


def _digits(number: str) -> str:
    return ("+" if number.startswith("+") else "") + re.sub(r"\D", "", number)


def _number(value: object, where: str) -> str:
    if not isinstance(value, str) or not PHONE.match(value.strip()) or len(re.sub(r"\D", "", value)) < MIN_DIGITS:
        raise BadContacts(f"{where}: not a phone number (digits, spaces, + ( ) . / - only)")
    return value.strip()


def _link(kind: str, value: object, where: str) -> Link:
    shown = _number(value, where)
    digits = _digits(shown)
    if kind in ("signal", "whatsapp") and not digits.startswith("+"):
        raise BadContacts(f"{where}: Signal and WhatsApp need the international form, starting with +")
    href = {
        "tel": f"tel:{digits}",
        "sms": f"sms:{digits}",
        "signal": f"https://signal.me/#p/{digits}",
        "whatsapp": f"https://wa.me/{digits.lstrip('+')}",
    }[kind]
    return Link(kind, href, shown)


def _texts(value: object, where: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"": value} if value.strip() else {}
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        unknown = set(value) - set(LANGUAGES)
        if unknown:
            raise BadContacts(f"{where}: unknown language codes {sorted(unknown)}; use {sorted(LANGUAGES)}")
        return {k: v for k, v in value.items() if v.strip()}
    raise BadContacts(f"{where}: a text, or an object of texts by language code")


def _contact(entry: object, where: str) -> Contact:
    if not isinstance(entry, dict):
        raise BadContacts(f"{where}: each contact is an object")
    unknown = set(entry) - FIELDS
    if unknown:
        raise BadContacts(f"{where}: unknown fields {sorted(unknown)}")
    name = _texts(entry.get("name"), f"{where}.name")
    if not name:
        raise BadContacts(f"{where}.name: every contact needs a name")
    links = [_link(kind, entry[key], f"{where}.{key}") for key, kind in _KINDS if entry.get(key)]
    note = _texts(entry.get("note", ""), f"{where}.note")
    legacy = entry.get("contact")
    if legacy is not None:  # the first format: one line of free text, a number or not
        if not isinstance(legacy, str):
            raise BadContacts(f"{where}.contact: a text")
        if PHONE.match(legacy.strip()) and len(re.sub(r"\D", "", legacy)) >= MIN_DIGITS:
            links.insert(0, _link("tel", legacy, f"{where}.contact"))
        elif legacy.strip():
            note = {"": legacy.strip()} | note
    languages = entry.get("languages", [])
    if not isinstance(languages, list) or any(code not in LANGUAGES for code in languages):
        raise BadContacts(f"{where}.languages: a list of language codes among {sorted(LANGUAGES)}")
    if not links and not note:
        raise BadContacts(f"{where}: give at least a phone, sms, signal or whatsapp number, or a note")
    return Contact(name, note, _texts(entry.get("region", ""), f"{where}.region"), tuple(links), frozenset(languages))


_KINDS = (("phone", "tel"), ("sms", "sms"), ("signal", "signal"), ("whatsapp", "whatsapp"))


def parse(document: Any) -> list[Contact]:
    if not isinstance(document, list) or not document:
        raise BadContacts("the file holds a JSON list of contacts, at least one")
    contacts = [_contact(entry, f"contact {i + 1}") for i, entry in enumerate(document)]
    for code in LANGUAGES:
        if not any(c.shown_in(code) for c in contacts):
            raise BadContacts(f"no contact is shown on the {code!r} pages: add one without 'languages'")
    return contacts


def load(path: Path | None) -> list[Contact]:
    if path is None:
        return DEFAULT
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadContacts(f"RRI_EMERGENCY_CONTACTS ({path}): {exc}") from exc
    try:
        return parse(document)
    except BadContacts as exc:
        raise BadContacts(f"RRI_EMERGENCY_CONTACTS ({path}): {exc}") from exc


DEFAULT = [
    Contact(
        name={"": N_("Front Line Defenders: 24-hour emergency line for human rights defenders at risk")},
        note={"": N_("They answer in English, French, Spanish, Arabic and Russian.")},
        links=(_link("tel", "+353 1 210 0489", "built-in"),),
        builtin=True,
    )
]
