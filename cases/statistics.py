"""Public statistics: which cases count, the counts, and small-count suppression. Pure: no Flask,
no database, no keys; the caller decrypts and hands in one ``Facts`` per case.

Only cases whose reporter allowed publication (``consent_publish`` "named" or "anonymised") and
that a caseworker triaged as credible or confirmed are counted. Anyone can file reports, so
counting unverified ones would let k-1 fake reports lift one real report over the threshold
(and fill categories with nothing real in them). Four one-way tables are published: country,
act type, UN mechanism and month received.

Suppression, and why no total is ever printed
---------------------------------------------
A count below ``k`` is shown as "<k". No table prints a total, but that alone is not enough:
month and country are *partitions* (every counted case falls in exactly one cell, "not stated"
being a cell), so their cells add up to the number of counted cases N, and anyone can read N off
a table without suppressed cells. We therefore assume N is known and check each partition table
on its own (one-way tables of different variables share no linear constraint other than N):
given N, the suppressed cells' sum is known, and a "<k" cell is recoverable when that sum leaves
it a single possible value (e.g. one suppressed cell, or two "<5" cells summing to 2). While that
is possible we also withhold the smallest exact cell that removes it, shown as "k+" (so readers
know it is at least k); if nothing does, the whole table is withheld. Act types and UN
mechanisms are multi-valued (a case may have none or several), so their cells sum to nothing
fixed and "<k" alone protects them.

Country is an ISO 3166-1 code where the reporter or a caseworker chose it from the list (or wrote
a country's name in full, cases.countries), so one country is one cell whatever the language;
otherwise it is free text someone typed. A value fewer than k cases share could be a town or a
name, so it is never printed: such values are pooled into one "(other)" cell. Tables hold the
codes; pages and the CSV name them in English with the code, "Kenya (KE)". Act
types and UN mechanisms are kept only if they are in the form's vocabulary, so a hostile client
cannot put words into the public tables through them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import countries
from .consent import Consent
from .questionnaire import QUESTIONS

PUBLISHABLE = ("named", "anonymised")
VERIFIED = ("credible", "confirmed")
COUNTED = (
    "cases a caseworker triaged as credible or confirmed, whose reporter (and the person affected) allowed publication"
)
DIMENSIONS = ("country", "act_type", "un_link", "month")
PARTITIONS = ("country", "month")
NOT_STATED = "(not stated)"
OTHER = "(other)"
WITHHELD = "withheld"
MAX_COUNTRY = 80


@dataclass(frozen=True)
class Facts:
    """What statistics need from one case, already decrypted by the caller."""

    month: str  # YYYY-MM of received_on (day-granular in the database; coarser here)
    publish: str
    country: str
    act_types: tuple[str, ...]
    un_link: tuple[str, ...]
    verification: str = "unverified"  # from the caseworkers' triage only, never the reporter


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _items(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _vocabulary(name: str, values: object) -> tuple[str, ...]:
    allowed = [choice.value for choice in QUESTIONS[name].choices]
    wanted = set(_items(values))
    return tuple(v for v in allowed if v in wanted)


def clean_country(value: str) -> str:
    """One spelling per country: no control or format characters, single spaces, bounded."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return " ".join(kept.split())[:MAX_COUNTRY]


def _country(values: Mapping[str, Any]) -> str:
    """The code, or the cleaned free text, of a report's answers, a triage or an index entry."""
    country = countries.resolve(values.get("country"), values.get("country_other"))
    return country if country in countries.CODES else clean_country(country)


def country_label(value: str) -> str:
    """A country cell as published: "Kenya (KE)" for a code (CLDR's English name)."""
    return countries.label(value, "en")


def facts(received_on: dt.date, answers: Mapping[str, Any], triage: Mapping[str, Any] | None = None) -> Facts:
    """A case's facts: the reporter's answers, overridden by what a caseworker filled in on triage.

    An empty triage field does not erase the reporter's answer (a caseworker who only set the
    verification has not decided the country is unknown).
    """
    triage = triage or {}
    country = _country(triage) or _country(answers)
    act_types = _vocabulary("act_types", triage.get("act_types")) or _vocabulary("act_types", answers.get("act_types"))
    un_link = _vocabulary("un_link", triage.get("un_link")) or _vocabulary("un_link", answers.get("un_link"))
    return Facts(
        month=received_on.strftime("%Y-%m"),
        publish=Consent.from_answers(answers).publish.answer,
        country=country,
        act_types=act_types,
        un_link=un_link,
        verification=verification if (verification := triage.get("verification")) in VERIFIED else "unverified",
    )


def count(cases: Iterable[Facts]) -> dict[str, Counter[str]]:
    """Raw counts per dimension over the cases that may be published (never shown as they are)."""
    tables: dict[str, Counter[str]] = {d: Counter() for d in DIMENSIONS}
    spellings: dict[tuple[bool, str], Counter[str]] = {}
    for case in cases:
        if case.publish not in PUBLISHABLE or case.verification not in VERIFIED:
            continue
        tables["month"][case.month] += 1
        tables["act_type"].update(case.act_types)
        tables["un_link"].update(case.un_link)
        # A code is its own group; free text groups by its case-folded spelling, apart from codes.
        key = (True, case.country) if case.country in countries.CODES else (False, case.country.casefold())
        spellings.setdefault(key, Counter())[case.country] += 1
    for variants in spellings.values():
        # The most common spelling names the group ("Kenya" over "kenya"); ties alphabetical.
        name = min(variants, key=lambda v: (-variants[v], v)) or NOT_STATED
        tables["country"][name] += sum(variants.values())
    return tables


def pool_rare_countries(counts: Counter[str], k: int) -> Counter[str]:
    pooled: Counter[str] = Counter()
    for name, n in counts.items():
        pooled[name if n >= k or name == NOT_STATED else OTHER] += n
    return pooled


def _pinned(primary: list[int], complement: list[int], k: int) -> bool:
    """Could someone who knows the suppressed cells' sum tell some "<k" cell's exact value?

    Each "<k" cell lies in [1, k-1] (empty cells are not listed) and each "k+" cell in [k, inf);
    with their sum fixed, a cell's feasible range is its box cut by what the others can absorb.
    """
    total = sum(primary) + sum(complement)
    others_low = len(primary) - 1 + len(complement) * k
    others_high = math.inf if complement else (len(primary) - 1) * (k - 1)
    low = max(1, total - others_high)
    high = min(k - 1, total - others_low)
    return low >= high


def partition_display(counts: Mapping[str, int], k: int) -> dict[str, str] | None:
    """What each cell of a partition table shows, or None if the table must be withheld."""
    primary = [v for v, n in counts.items() if n < k]
    complement: list[str] = []
    exact = sorted((v for v in counts if counts[v] >= k), key=lambda v: (counts[v], v))

    def pinned(extra: list[str]) -> bool:
        return _pinned([counts[v] for v in primary], [counts[v] for v in complement + extra], k)

    while primary and pinned([]):
        if not exact:
            return None
        # The smallest single cell that settles it, else the smallest one and look again.
        choice = next((v for v in exact if not pinned([v])), exact[0])
        exact.remove(choice)
        complement.append(choice)
    return {v: (f"<{k}" if n < k else f"{k}+" if v in complement else str(n)) for v, n in counts.items()}


def simple_display(counts: Mapping[str, int], k: int) -> dict[str, str]:
    return {v: f"<{k}" if n < k else str(n) for v, n in counts.items()}


def _order(dimension: str, shown: Mapping[str, str]) -> list[str]:
    if dimension == "month":
        return sorted(shown)
    if dimension in ("act_type", "un_link"):
        question = "act_types" if dimension == "act_type" else dimension
        return [c.value for c in QUESTIONS[question].choices if c.value in shown]
    # Countries: exact counts largest first; withheld cells by name only, so their order says
    # nothing about their sizes; the two catch-all cells last.
    special = [v for v in (OTHER, NOT_STATED) if v in shown]
    named = [v for v in shown if v not in special]
    exact = sorted((v for v in named if shown[v].isdigit()), key=lambda v: (-int(shown[v]), v.casefold()))
    hidden = sorted((v for v in named if not shown[v].isdigit()), key=str.casefold)
    return exact + hidden + special


def publish(cases: Iterable[Facts], k: int, on: dt.date) -> dict[str, Any]:
    """The public aggregate: suppressed counts only, safe to store in clear and to hand out.

    ``{"v": 1, "on": "YYYY-MM-DD", "k": k, "tables": {dimension: [[value, shown], ...] | None}}``
    where None means the table is withheld.
    """
    if k < 3:
        raise ValueError("the minimum count must be at least 3 (with 2, '<2' would mean exactly 1)")
    raw = count(cases)
    raw["country"] = pool_rare_countries(raw["country"], k)
    tables: dict[str, list[list[str]] | None] = {}
    for dimension in DIMENSIONS:
        counts = raw[dimension]
        shown = partition_display(counts, k) if dimension in PARTITIONS else simple_display(counts, k)
        tables[dimension] = None if shown is None else [[v, shown[v]] for v in _order(dimension, shown)]
    return {"v": 1, "on": on.isoformat(), "k": k, "tables": tables}


def csv_rows(aggregate: Mapping[str, Any]) -> list[list[str]]:
    """``dimension,value,count`` rows; a withheld table is one row saying so."""
    rows = [["dimension", "value", "count"], ["(counted)", COUNTED, ""]]
    for dimension in DIMENSIONS:
        table = aggregate["tables"].get(dimension)
        if table is None:
            rows.append([dimension, "(all values)", WITHHELD])
            continue
        named = country_label if dimension == "country" else str
        rows.extend([dimension, _spreadsheet_safe(named(value)), shown] for value, shown in table)
    return rows


# A formula character at the start of a cell. Spreadsheets in semicolon locales split a line of
# this comma-separated file at ";" (and some at tabs or "|"), so a cell can start mid-value too.
_FORMULA = re.compile(r'(^|[;,\t|])(\s*"?\s*)(?=[=+\-@])')


def _spreadsheet_safe(value: str) -> str:
    """Country names are typed by people: never let a spreadsheet read one as a formula, whatever
    separator it splits the line at (a quote makes the cell text)."""
    return _FORMULA.sub(lambda m: m.group(1) + m.group(2) + "'", value)
