"""What the intake routes do with a sealed report or follow-up, whichever path sealed it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cases import conversation, reports, tokens
from cases.blobs import BlobStore
from cases.config import Settings
from cases.db import Database
from cases.models import Attachment, Case, SealedIn
from crypto import token as tokens_fmt
from crypto.errors import OpenError
from crypto.kdf import Argon2Params
from crypto.keys import KeyPair
from crypto.receipt import open_receipt, seal_receipt
from crypto.stream import CHUNK_SIZE

from .limits import Slots


class NotFound(Exception):
    """No case answers to this token (never said more precisely, on purpose)."""


class TooLarge(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class Upload:
    id: str
    secret: str
    chunks: int


@dataclass
class Receipt:
    case_id: str
    token: str | None  # None: a repeat of a submit whose token was already shown and used
    created: bool
    uploads: list[Upload] = field(default_factory=list)
    urgent: bool = False


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(b"rri/v1 upload " + secret.encode()).hexdigest()


def upload_allowed(attachment: Attachment, secret: str | None) -> bool:
    return bool(
        secret
        and attachment.upload_secret_hash
        and hmac.compare_digest(attachment.upload_secret_hash, _secret_hash(secret))
    )


DEFAULT_CONTACTS = [
    {
        "name": "Front Line Defenders: 24-hour emergency line for human rights defenders at risk",
        "contact": "+353 1 210 0489",
    }
]


@dataclass
class Intake:
    """Everything the intake routes share: configuration, storage, and the argon2 slots."""

    settings: Settings
    db: Database
    blobs: BlobStore
    slots: Slots

    @cached_property
    def contacts(self) -> list[dict[str, str]]:
        """Emergency contacts shown to reporters in danger; read once, not on every page."""
        path = self.settings.emergency_contacts_file
        return DEFAULT_CONTACTS if path is None else json.loads(path.read_text(encoding="utf-8"))

    @cached_property
    def _token_inputs(self) -> tuple[bytes, Argon2Params]:
        # Both are fixed for the installation's life (pepper file, cost recorded at init), so
        # each token presentation costs its argon2 run only, not file and database reads too.
        with self.db.session() as session:
            return self.settings.pepper(), tokens.kdf_params(session)

    def check_sizes(self, sizes: list[int]) -> None:
        if len(sizes) > self.settings.max_files:
            raise TooLarge("count")
        if any(size > self.settings.max_file_bytes for size in sizes):
            raise TooLarge("file")
        if sum(sizes) > self.settings.max_total_bytes:
            raise TooLarge("total")

    def derive(self, token_text: str) -> tokens_fmt.TokenSecrets:
        pepper, params = self._token_inputs
        with self.slots.take():
            return tokens_fmt.derive(token_text, pepper, params)

    def _declare(self, session, case: Case, files: list[tuple[bytes, int]], message_id: int | None) -> list[Upload]:  # type: ignore[no-untyped-def]
        # The server cannot see sizes inside the seal; a file of n chunks holds more than n-1 full
        # chunks, so this never refuses a file the browser (which knows exact sizes) accepted.
        self.check_sizes([(count - 1) * CHUNK_SIZE + 1 for _, count in files])
        uploads = []
        for manifest, count in files:
            secret = secrets.token_urlsafe(24)
            attachment = reports.start_attachment(session, case, manifest, count, message_id, _secret_hash(secret))
            uploads.append(Upload(attachment.id, secret, count))
        return uploads

    def file_report(
        self,
        *,
        envelope: bytes,
        sealed_in: SealedIn,
        urgent: bool,
        nonce: str,
        declared: list[tuple[bytes, int]] = (),  # type: ignore[assignment]
        whole: list[tuple[bytes, list[bytes]]] = (),  # type: ignore[assignment]
    ) -> Receipt:
        """File once per ``nonce``: a repeat gets the same case, token and fresh upload secrets."""
        repeat = self.repeat(nonce)
        if repeat is not None:
            return repeat
        new_token = tokens_fmt.generate()
        derived = self.derive(new_token)
        try:
            with self.db.session() as session:
                filed = reports.file_report(
                    session,
                    envelope=envelope,
                    sealed_in=sealed_in,
                    token_lookup=derived.lookup,
                    reporter_public_key=derived.reporter.public,
                    urgent=urgent,
                    client_nonce=nonce,
                    receipt_box=seal_receipt(nonce, new_token),
                )
                uploads = self._declare(session, filed.case, list(declared), None)
                for manifest, chunks in whole:
                    reports.attach_file(session, self.blobs, filed.case, manifest, chunks)
                return Receipt(filed.case.id, new_token, True, uploads, urgent)
        except IntegrityError:
            # The same submit raced itself (two taps at once): the first one won.
            repeat = self.repeat(nonce)
            if repeat is None:
                raise
            return repeat

    def repeat(self, nonce: str) -> Receipt | None:
        """The receipt of an earlier submit with this nonce, or None (cheap: no argon2)."""
        with self.db.session() as session:
            case = session.scalar(select(Case).where(Case.submission_key == reports.submission_key(nonce)))
            if case is None:
                return None
            shown: str | None = None
            if case.receipt_box is not None:
                try:
                    shown = open_receipt(nonce, case.receipt_box)
                except OpenError:
                    shown = None
            uploads = []
            for attachment in session.scalars(
                select(Attachment).where(Attachment.case_id == case.id, Attachment.complete.is_(False))
            ):
                secret = secrets.token_urlsafe(24)
                attachment.upload_secret_hash = _secret_hash(secret)
                uploads.append(Upload(attachment.id, secret, attachment.chunk_count))
            return Receipt(case.id, shown, False, uploads, case.urgent)

    def open_case(self, token_text: str) -> tuple[str, KeyPair]:
        """Find the case for a token; raises TokenError (typo/format), Busy, or NotFound."""
        derived = self.derive(token_text)
        with self.db.session() as session:
            case = reports.find_by_lookup(session, derived.lookup)
            if case is None:
                raise NotFound()
            case.receipt_box = None  # the token reached its owner: nothing to show again
            return case.id, derived.reporter

    def follow_up(
        self,
        case_id: str,
        *,
        team: bytes,
        mine: bytes | None,
        declared: list[tuple[bytes, int]] = (),  # type: ignore[assignment]
        whole: list[tuple[bytes, list[bytes]]] = (),  # type: ignore[assignment]
    ) -> list[Upload]:
        with self.db.session() as session:
            case = session.get_one(Case, case_id)
            message = conversation.add_follow_up(session, case, team, mine)
            uploads = self._declare(session, case, list(declared), message.id)
            for manifest, chunks in whole:
                reports.attach_file(session, self.blobs, case, manifest, chunks, message.id)
            return uploads
