"""What the intake routes do with a sealed report or follow-up, whichever path sealed it."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

from flask import g
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases import intake_writes, reports, tokens
from cases.blobs import BlobStore, chunk_key
from cases.clock import today
from cases.config import Settings
from cases.db import Database
from cases.ids import new_id
from cases.intake_writes import NewUpload
from cases.models import Attachment, Case, SealedIn
from crypto import token as tokens_fmt
from crypto.envelope import Purpose
from crypto.errors import OpenError
from crypto.kdf import Argon2Params
from crypto.keys import KeyPair
from crypto.receipt import open_receipt, seal_receipt, upload_secret, valid_nonce
from crypto.stream import CHUNK_SIZE

from .limits import Slots

IN_FLIGHT_WAIT_SECONDS = 60  # a copy of a submit waits at most this long for the first copy


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


def _fresh_secret(_upload_id: str) -> str:
    return secrets.token_urlsafe(24)  # a follow-up has no nonce: nothing repeats it


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
    _in_flight: dict[str, tuple[threading.Lock, int]] = field(default_factory=dict)  # nonce: lock, users
    _in_flight_lock: threading.Lock = field(default_factory=threading.Lock)

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

    def _new_uploads(
        self, session: Session, files: list[tuple[bytes, int]], secret_for: Callable[[str], str]
    ) -> list[tuple[NewUpload, str]]:
        # The server cannot see sizes inside the seal; a file of n chunks holds more than n-1 full
        # chunks, so this never refuses a file the browser (which knows exact sizes) accepted.
        self.check_sizes([(count - 1) * CHUNK_SIZE + 1 for _, count in files])
        made = []
        for manifest, count in files:
            if count < 1:
                raise reports.Rejected("a file has at least one chunk")
            key_id = reports.check_envelope(session, manifest, Purpose.ATTACHMENT_MANIFEST)
            upload_id = new_id()
            secret = secret_for(upload_id)
            made.append((NewUpload(upload_id, manifest, count, intake_writes.secret_hash(secret), key_id), secret))
        return made

    def _store_whole(
        self, session: Session, uploads: list[tuple[NewUpload, str]], whole: list[tuple[bytes, list[bytes]]]
    ) -> None:
        """Files sealed by the server (no JavaScript): every chunk stored now, through the same gate."""
        for (upload, secret), (_manifest, chunks) in zip(uploads, whole, strict=True):
            for index, sealed in enumerate(chunks):
                self.blobs.put(chunk_key(upload.id, index), sealed)
                intake_writes.record_chunk(session, upload.id, secret, index, len(sealed))

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
        """File once per ``nonce``: every repeat gets the first case, its token and its live uploads."""
        if not valid_nonce(nonce):
            raise ValueError("a submission nonce is 22 to 64 base64url characters")
        self._hold(nonce)
        repeat = self._repeat(nonce)
        if repeat is not None:
            return repeat
        new_token = tokens_fmt.generate()
        derived = self.derive(new_token)
        try:
            with self.db.session() as session:
                intake_key_id = reports.check_envelope(session, envelope, Purpose.REPORT)
                secret_for = partial(upload_secret, nonce)
                declared_uploads = self._new_uploads(session, list(declared), secret_for)
                whole_uploads = self._new_uploads(session, [(m, len(c)) for m, c in whole], secret_for)
                case_id, created = intake_writes.file_case(
                    session,
                    case_id=new_id(),
                    submission_key=reports.submission_key(nonce),
                    urgent=urgent,
                    sealed_in=sealed_in,
                    token_lookup=derived.lookup,
                    reporter_public_key=derived.reporter.public,
                    receipt_box=seal_receipt(nonce, new_token),
                    intake_key_id=intake_key_id,
                    envelope=envelope,
                    day=today(),
                    uploads=[u for u, _s in declared_uploads + whole_uploads],
                )
                if created:
                    self._store_whole(session, whole_uploads, list(whole))
                    uploads = [Upload(u.id, secret, u.chunk_count) for u, secret in declared_uploads]
                    return Receipt(case_id, new_token, True, uploads, urgent)
        except IntegrityError:
            pass  # the same submit raced itself in another process, and the other one won
        # Another copy of this submit filed it first: answer with that case, never this token.
        repeat = self._repeat(nonce)
        if repeat is None:
            raise RuntimeError("a submission that lost a race left no case")
        return repeat

    def _hold(self, nonce: str) -> None:
        """Copies of one submit in this process are handled one after the other, each copy to
        the end of its request, so a later copy finds the case the first one filed instead of
        failing its spent proof-of-work or deriving a token of its own. (Copies in other processes
        meet at the database's unique submission key.) Released by ``release_held``."""
        held = g.setdefault("rri_held_nonces", [])
        if nonce in held:
            return
        with self._in_flight_lock:
            lock, users = self._in_flight.get(nonce, (threading.Lock(), 0))
            self._in_flight[nonce] = (lock, users + 1)
        if lock.acquire(timeout=IN_FLIGHT_WAIT_SECONDS):
            held.append(nonce)
        else:
            self._forget(nonce)

    def _forget(self, nonce: str) -> None:
        with self._in_flight_lock:
            lock, users = self._in_flight[nonce]
            if users == 1:
                del self._in_flight[nonce]
            else:
                self._in_flight[nonce] = (lock, users - 1)

    def release_held(self, _error: BaseException | None = None) -> None:
        """At the end of each request: let the next copy of its submit go on."""
        for nonce in g.pop("rri_held_nonces", []):
            self._in_flight[nonce][0].release()
            self._forget(nonce)

    def repeat(self, nonce: str) -> Receipt | None:
        """The receipt of an earlier submit with this nonce, or None (cheap: no argon2).

        A copy of a submit still being handled in this process is waited for, so a double tap
        shows the token of the first tap, not a form or an error.
        """
        if not valid_nonce(nonce):
            return None
        self._hold(nonce)
        return self._repeat(nonce)

    def await_repeat(self, nonce: str, seconds: float = 15.0) -> Receipt | None:
        """For a copy whose proof-of-work a twin in another process already spent: that twin is
        filing the case, so wait for it rather than tell the reporter to send again."""
        deadline = time.monotonic() + seconds
        while valid_nonce(nonce) and time.monotonic() < deadline:
            receipt = self._repeat(nonce)
            if receipt is not None:
                return receipt
            time.sleep(0.1)
        return None

    def _repeat(self, nonce: str) -> Receipt | None:
        # Nothing is rewritten: the upload secrets are derived again from the nonce.
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
            uploads = [
                Upload(a.id, upload_secret(nonce, a.id), a.chunk_count)
                for a in session.scalars(
                    select(Attachment)
                    .where(Attachment.case_id == case.id, Attachment.message_id.is_(None))
                    .where(Attachment.complete.is_(False))
                    .order_by(Attachment.id)
                )
            ]
            return Receipt(case.id, shown, False, uploads, case.urgent)

    def open_case(self, token_text: str) -> tuple[str, KeyPair]:
        """Find the case for a token; raises TokenError (typo/format), Busy, or NotFound."""
        derived = self.derive(token_text)
        with self.db.session() as session:
            case_id = intake_writes.open_case(session, derived.lookup)
        if case_id is None:
            raise NotFound()
        # The token was proven in this request: later writes in it may use the capability.
        g.setdefault("rri_lookups", {})[case_id] = derived.lookup
        return case_id, derived.reporter

    @staticmethod
    def _lookup(case_id: str) -> bytes:
        lookup = g.get("rri_lookups", {}).get(case_id)
        if lookup is None:
            raise NotFound()  # no token for this case was presented in this request
        return bytes(lookup)

    def follow_up(
        self,
        case_id: str,
        *,
        team: bytes,
        mine: bytes | None,
        declared: list[tuple[bytes, int]] = (),  # type: ignore[assignment]
        whole: list[tuple[bytes, list[bytes]]] = (),  # type: ignore[assignment]
    ) -> list[Upload]:
        lookup = self._lookup(case_id)
        with self.db.session() as session:
            case = session.get_one(Case, case_id)
            reports.check_envelope(session, team, Purpose.MESSAGE)
            if mine is not None:
                if case.reporter_public_key is None:
                    raise reports.Rejected("this case's reply channel was deleted")
                reports.check_envelope(session, mine, Purpose.MESSAGE, case.reporter_public_key)
            declared_uploads = self._new_uploads(session, list(declared), _fresh_secret)
            whole_uploads = self._new_uploads(session, [(m, len(c)) for m, c in whole], _fresh_secret)
            message_id = intake_writes.follow_up(
                session, lookup, team, mine, today(), [u for u, _s in declared_uploads + whole_uploads]
            )
            if message_id is None:
                raise NotFound()
            self._store_whole(session, whole_uploads, list(whole))
            return [Upload(u.id, secret, u.chunk_count) for u, secret in declared_uploads]

    def delete_channel(self, case_id: str) -> None:
        with self.db.session() as session:
            if not intake_writes.delete_channel(session, self._lookup(case_id)):
                raise NotFound()
