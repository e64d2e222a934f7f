"""The one way tests file a case: as the intake files it, sealed to the current intake key.

Everything goes through the domain layer (``cases.reports``, ``cases.conversation``), so a test's
case is stored exactly as a reporter's would be; only the clear text and a few dates are chosen.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cases import conversation, reports
from cases.blobs import BlobStore
from cases.config import Settings
from cases.db import Database
from cases.intake_keys import current
from cases.models import Case, SealedIn
from crypto import token
from crypto.envelope import Purpose, seal
from crypto.keys import KeyPair
from crypto.stream import encrypt_chunks, new_file_key, seal_file


@dataclass(frozen=True)
class Filed:
    case_id: str
    token: str | None  # the reporter's token, when filed with ``settings`` to derive it
    reporter: KeyPair  # the reply channel's key pair
    created: bool  # False when a repeated ``nonce`` found the case filed the first time


def file_case(
    where: Database | Session,
    *,
    answers: Mapping[str, Any] | None = None,
    lang: str | None = "en",
    raw_report: bytes | None = None,
    files: Sequence[tuple[str, bytes, str]] = (),
    raw_manifests: Sequence[bytes] = (),
    follow_ups: Sequence[bytes] = (),
    blobs: BlobStore | None = None,
    urgent: bool = False,
    received_on: dt.date | None = None,
    sealed_in: SealedIn = SealedIn.BROWSER,
    settings: Settings | None = None,
    nonce: str | None = None,
) -> Filed:
    """File a report ``{"v": 1, "lang": lang, "answers": answers}`` (no ``lang`` key when None),
    or ``raw_report`` bytes as they are, in a session of its own or the caller's.

    ``files`` are (name, data, type) sealed as the browser seals them; ``raw_manifests`` are
    manifest bytes sealed as they are over one chunk; ``follow_ups`` are the team copies of
    reporter messages. Files need ``blobs``. With ``settings`` the reply channel comes from a real
    reporter token (``Filed.token``), otherwise from random bytes.
    """
    if raw_report is None:
        report: dict[str, Any] = {"v": 1, **({"lang": lang} if lang is not None else {}), "answers": answers or {}}
        raw_report = json.dumps(report).encode()
    reporter_token = None
    if settings is not None:
        reporter_token = token.generate()
        derived = token.derive(reporter_token, settings.pepper(), settings.argon2)
        lookup, reporter = derived.lookup, derived.reporter
    else:
        lookup, reporter = os.urandom(32), KeyPair.generate()
    opened = where.session() if isinstance(where, Database) else nullcontext(where)
    with opened as session:
        public = current(session).public_key
        filed = reports.file_report(
            session,
            envelope=seal(public, Purpose.REPORT, raw_report),
            sealed_in=sealed_in,
            token_lookup=lookup,
            reporter_public_key=reporter.public,
            urgent=urgent,
            client_nonce=nonce,
        )
        case: Case = filed.case
        if received_on is not None:
            case.received_on = received_on
        attached = [seal_file(public, data, name, kind) for name, data, kind in files] + [
            (seal(public, Purpose.ATTACHMENT_MANIFEST, raw), encrypt_chunks(new_file_key(), b"x"))
            for raw in raw_manifests
        ]
        for manifest, chunks in attached:
            assert blobs is not None, "filing files needs a blob store"
            reports.attach_file(session, blobs, case, manifest, chunks)
        for message in follow_ups:
            team = seal(public, Purpose.MESSAGE, message, context=conversation.context(case))
            conversation.add_follow_up(session, case, team, None)
        return Filed(case.id, reporter_token, reporter, filed.created)
