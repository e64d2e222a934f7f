"""The encrypted inbox index: what the inbox sorts and filters on, without an HPKE open per case.

Opening 10,000 reports (one ECDH each) on every inbox load would take seconds, so the few fields
the inbox needs are kept per case in ``Case.index_blob``, sealed (crypto.inbox_index) under a key
every caseworker derives from the installation's first intake key.

That key is never retired out of anyone's ring (rotation wraps the new key to every holder of the
old one; grants copy every key), so the index key is the same for every caseworker and survives
rotation. An entry that does not open (another key, another case, tampering) or predates the
case's triage is rebuilt from the sealed report and triage: the index is a cache that can always
be thrown away.

Everything in an entry came from a reporter or a caseworker, so it is only ever stored here,
encrypted, and only ever rendered escaped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto.envelope import Purpose
from crypto.errors import OpenError
from crypto.inbox_index import EntryCipher, derive_key
from crypto.keys import PrivateKey

from . import countries, details, errors, reading
from .consent import Consent
from .conversation import context
from .keyring import Keyring
from .models import Case, IntakeKey, Submission, WrappedKey
from .report_schema import Report

Entry = dict[str, Any]  # the JSON of docs/protocol.md §14.7
VERIFICATION = ("unverified", "credible", "confirmed")
# Bounds on what a (possibly hostile) report can put into an entry.
MAX_TEXT = 200
# 2: reports are validated (report_schema), and a malformed one is marked "invalid" with its reason;
# entries of version 1 may hold what a malformed report said, so they are rebuilt.
# 3: "country" is an ISO 3166-1 code where the report or triage names a country (cases.countries);
# 4: consent_act and consent_publish are the consent that counts (the person affected's included).
# Older entries are rebuilt.
ENTRY_VERSION = 4
MAX_ITEMS = 32
_BATCH = 500  # ids per IN (...) query: well under SQLite's parameter limit


class IndexUnavailable(errors.Refused):
    """This ring lacks the installation's first intake key, so it cannot derive the index key."""


class CaseLike(Protocol):
    """A Case, or a row with these columns (the inbox loads rows, not ORM objects, for speed)."""

    @property
    def id(self) -> str: ...
    @property
    def index_blob(self) -> bytes | None: ...
    @property
    def triage_envelope(self) -> bytes | None: ...


def _first_intake_key_id(session: Session) -> str | None:
    """The installation's first intake key.

    ``created_on`` is only a day, and key ids are random, so keys made on the same day (a rotation
    right after init) are told apart by their first wrap's row id: every key is wrapped, to the
    recovery key at least, in the transaction that creates it, and those wraps are never removed.
    """
    first_wrap = (
        select(WrappedKey.intake_key_id, func.min(WrappedKey.id).label("first"))
        .group_by(WrappedKey.intake_key_id)
        .subquery()
    )
    return session.scalar(
        select(IntakeKey.id)
        .join(first_wrap, first_wrap.c.intake_key_id == IntakeKey.id)
        .order_by(IntakeKey.created_on, first_wrap.c.first, IntakeKey.id)
        .limit(1)
    )


def index_key(session: Session, ring: Keyring) -> bytes:
    """The symmetric index key; raises IndexUnavailable if the ring lacks the first intake key.

    Takes the installation's first key, not merely the oldest in this ring: a ring missing it
    would derive a different key and overwrite everybody's entries with ones they cannot read.
    """
    first = _first_intake_key_id(session)
    pair = ring.intake.get(bytes.fromhex(first)) if first else None
    if pair is None:
        raise IndexUnavailable("this account does not hold the installation's first intake key")
    return derive_key(pair.scalar)


def seal(cipher: EntryCipher, case_id: str, entry: Entry) -> bytes:
    body = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return cipher.seal(case_id, body)


def open_entry(cipher: EntryCipher, case_id: str, blob: bytes) -> Entry | None:
    """The entry, or None if the blob does not authenticate (other key, other case, tampered)."""
    try:
        entry = json.loads(cipher.open(case_id, blob))
    except (OpenError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def triage_mark(triage_envelope: bytes | None) -> str:
    """Which triage an entry was built from, so an entry older than the triage gets rebuilt."""
    if triage_envelope is None:
        return ""
    return hashlib.blake2b(triage_envelope, digest_size=12).hexdigest()


# -- building an entry from the sealed report and triage ------------------------------------------


def _text(value: object) -> str:
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def _items(value: object) -> list[str]:
    if isinstance(value, str):  # a single value where a list was expected
        value = [value]
    if not isinstance(value, list):
        return []
    return [item[:MAX_TEXT] for item in value[:MAX_ITEMS] if isinstance(item, str) and item]


def entry_from(report: Report | None, triage: Mapping[str, Any] | None, problem: str | None = None) -> Entry:
    """The index entry: the reporter's answers, overridden by the caseworkers' triage if set.

    A report that opened but is malformed keeps its reason (``invalid``) so the inbox can say
    why; one these keys cannot open is ``unreadable``.
    """
    answers: Mapping[str, Any] = report.answers if report is not None else {}
    consent = Consent.from_answers(answers)  # what counts, the person affected's answers included
    entry: Entry = {
        "v": ENTRY_VERSION,
        "country": countries.resolve(answers.get("country"), answers.get("country_other"))[:MAX_TEXT],
        "act_types": _items(answers.get("act_types")),
        "un_link": _items(answers.get("un_link")),
        "situation": _text(answers.get("situation")),
        "verification": "unverified",
        "consent_act": "yes" if consent.act else "no",
        "consent_publish": consent.publish.answer,
    }
    if report is None and problem is not None and problem != reading.NO_KEY:
        entry["invalid"] = problem[:MAX_TEXT]
    elif report is None:
        entry["unreadable"] = True
    if triage:
        # Only what a caseworker actually filled in overrides the reporter's answer.
        if country := countries.resolve(triage.get("country"), triage.get("country_other"))[:MAX_TEXT]:
            entry["country"] = country
        for name in ("act_types", "un_link"):
            if values := _items(triage.get(name)):
                entry[name] = values
        if triage.get("verification") in VERIFICATION:
            entry["verification"] = triage["verification"]
    return entry


def _build(
    keys: dict[bytes, PrivateKey], case: CaseLike, report_envelope: bytes | None, added: Sequence[details.Row] = ()
) -> tuple[Entry, bool]:
    """(entry, storable): an entry is stored only if everything opened with these keys, so a
    caseworker missing a key never replaces a good entry with a poorer one. Details the reporter
    added later are merged over the report's answers (cases.details); the entry records the
    newest one it saw ("d"), so an entry older than the case's latest details is rebuilt."""
    first, problem = reading.parse_report(keys, report_envelope)
    report = details.merge(keys, case.id, first, added).report
    triage = None
    if case.triage_envelope is not None:
        triage = reading.open_json(
            keys,
            Purpose.TRIAGE,
            case.triage_envelope,
            context(case, "triage"),
        )
    entry = entry_from(report, triage, problem if report_envelope is not None else None)
    entry["t"] = triage_mark(case.triage_envelope)
    if added:
        entry["d"] = added[-1][0]
    opened = report is not None or "invalid" in entry  # a malformed report will not change
    return entry, opened and (case.triage_envelope is None or triage is not None)


def report_envelopes(session: Session, case_ids: Sequence[str]) -> dict[str, bytes]:
    """The first submission of each case, in batched queries."""
    found: dict[str, bytes] = {}
    for start in range(0, len(case_ids), _BATCH):
        rows = session.execute(
            select(Submission.case_id, Submission.envelope)
            .where(Submission.case_id.in_(case_ids[start : start + _BATCH]))
            .order_by(Submission.id)
        )
        for case_id, envelope in rows:
            found.setdefault(case_id, envelope)
    return found


# -- public API -----------------------------------------------------------------------------------


def rebuild(session: Session, ring: Keyring, case: Case) -> Entry:
    """Decrypt the case's report and triage, store its entry, and return it.

    Call after anything that changes the triage. If this ring cannot open the report or derive
    the index key, the entry is returned but nothing is stored.
    """
    envelope = report_envelopes(session, [case.id]).get(case.id)
    added = details.rows_of(session, [case.id]).get(case.id, [])
    entry, storable = _build(ring.private_keys(), case, envelope, added)
    try:
        key = index_key(session, ring)
    except IndexUnavailable:
        return entry
    if storable:
        case.index_blob = seal(EntryCipher(key), case.id, entry)
        session.flush()
    return entry


def read(session: Session, ring: Keyring, cases: Iterable[CaseLike]) -> dict[str, Entry]:
    """Index entries by case id: stored ones decrypted, missing or outdated ones rebuilt."""
    return read_counted(session, ring, cases)[0]


def read_counted(session: Session, ring: Keyring, cases: Iterable[CaseLike]) -> tuple[dict[str, Entry], int]:
    """As ``read``, and how many entries had to be built from the sealed report (for the audit)."""
    try:
        cipher: EntryCipher | None = EntryCipher(index_key(session, ring))
    except IndexUnavailable:
        cipher = None  # build in memory every time, store nothing
    entries: dict[str, Entry] = {}
    missing: list[CaseLike] = []
    cases = list(cases)
    newest = details.latest(session, [case.id for case in cases])
    for case in cases:
        blob = case.index_blob
        entry = open_entry(cipher, case.id, blob) if cipher is not None and blob else None
        if (
            entry is None
            or entry.get("v") != ENTRY_VERSION
            or entry.get("t", "") != triage_mark(case.triage_envelope)
            or entry.get("d", 0) != newest.get(case.id, 0)
        ):
            missing.append(case)
        else:
            entries[case.id] = entry
    if missing:
        entries.update(_rebuild_many(session, ring, cipher, missing))
    return entries, len(missing)


def _rebuild_many(
    session: Session, ring: Keyring, cipher: EntryCipher | None, cases: list[CaseLike]
) -> dict[str, Entry]:
    envelopes = report_envelopes(session, [case.id for case in cases])
    added = details.rows_of(session, [case.id for case in cases])
    entries: dict[str, Entry] = {}
    updates: list[dict[str, Any]] = []
    keys = ring.private_keys()
    for case in cases:
        entry, storable = _build(keys, case, envelopes.get(case.id), added.get(case.id, []))
        entries[case.id] = entry
        if cipher is None or not storable:
            continue
        blob = seal(cipher, case.id, entry)
        if isinstance(case, Case):
            case.index_blob = blob
        else:
            updates.append({"id": case.id, "index_blob": blob})
    if updates:
        session.execute(update(Case), updates)  # one executemany by primary key
    session.flush()
    return entries
