"""What the intake does with a sealed report or follow-up, whichever path sealed it.

A report is filed once per submission nonce: every repeat (double tap, reload, network retry)
gets the first case, its token while the receipt box still opens, and its unfinished uploads. A
token presented later resolves to a ``Reporter``, the proof that the person holds it, which the
follow-up and deletion writes take as their capability.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.envelope import Purpose, seal
from crypto.errors import OpenError
from crypto.kdf import Argon2Params
from crypto.keys import KeyPair
from crypto.receipt import open_receipt, seal_receipt, upload_secret, valid_nonce
from crypto.stream import CHUNK_SIZE

from . import conversation, errors, intake_keys, intake_writes, reports, tokens
from .blobs import BlobStore, chunk_key
from .clock import today
from .config import Settings
from .conversation import ReporterView
from .db import Database
from .ids import new_id
from .in_flight import Holds, InFlight
from .intake_writes import NewUpload
from .limits import Slots, TooLarge
from .models import Attachment, Case, SealedIn

REPEAT_WAIT_SECONDS = 15.0  # how long a copy waits for its twin in another process to file


class NotFound(errors.NotFound):
    """No case answers to this token (never said more precisely, on purpose)."""


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


@dataclass(frozen=True)
class Reporter:
    """A token proven in this request: the case it opens, and what it derives to."""

    case_id: str
    keys: KeyPair
    token: str  # as typed, to show it back on the page
    lookup: bytes  # the capability the intake's writes to this case check


@dataclass(frozen=True)
class Standing:
    """What the reporter's status page shows of their case."""

    view: ReporterView
    case_context: bytes  # what the browser binds its sealed follow-ups to
    intake_key: intake_keys.Published


Files = Sequence[tuple[bytes, list[bytes]]]  # sealed by the server: (sealed manifest, chunks)
Declared = Sequence[tuple[bytes, int]]  # sealed by the browser: (sealed manifest, chunk count)


def _fresh_secret(_upload_id: str) -> str:
    return secrets.token_urlsafe(24)  # a follow-up has no nonce: nothing repeats it


class Filing:
    """The intake's domain: configuration, storage, the argon2 slots and the submits in flight."""

    def __init__(self, settings: Settings, db: Database, blobs: BlobStore, slots: Slots) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.slots = slots
        self.in_flight = InFlight()

    @cached_property
    def _token_inputs(self) -> tuple[bytes, Argon2Params]:
        # Both are fixed for the installation's life (pepper file, cost recorded at init), so
        # each token presentation costs its argon2 run only, not file and database reads too.
        with self.db.session() as session:
            return self.settings.pepper(), tokens.kdf_params(session)

    def intake_key(self) -> intake_keys.Published:
        return intake_keys.published(self.db)

    def check_sizes(self, sizes: list[int]) -> None:
        if len(sizes) > self.settings.max_files:
            raise TooLarge("count")
        if any(size > self.settings.max_file_bytes for size in sizes):
            raise TooLarge("file")
        if sum(sizes) > self.settings.max_total_bytes:
            raise TooLarge("total")

    def derive(self, token_text: str) -> tokens.TokenSecrets:
        """Raises tokens.Malformed (or Mistyped), or Busy when every argon2 slot is taken."""
        pepper, params = self._token_inputs
        with self.slots.take():
            return tokens.stretch(token_text, pepper, params)

    def file_report(
        self,
        *,
        envelope: bytes,
        sealed_in: SealedIn,
        urgent: bool,
        nonce: str,
        holds: Holds,
        declared: Declared = (),
        whole: Files = (),
    ) -> Receipt:
        """File once per ``nonce``: every repeat gets the first case, its token and its live uploads."""
        if not valid_nonce(nonce):
            raise errors.Invalid("a submission nonce is 22 to 64 base64url characters")
        self.in_flight.hold(nonce, holds)
        repeat = self._repeat(nonce, declared)
        if repeat is not None:
            return repeat
        new_token = tokens.generate()
        derived = self.derive(new_token)
        try:
            with self.db.session() as session:
                intake_key_id = reports.check_envelope(session, envelope, Purpose.REPORT)
                secret_for = partial(upload_secret, nonce)
                declared_uploads = self._new_uploads(session, declared, secret_for)
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
                    self._store_whole(session, whole_uploads, whole)
                    uploads = [Upload(u.id, secret, u.chunk_count) for u, secret in declared_uploads]
                    return Receipt(case_id, new_token, True, uploads, urgent)
        except IntegrityError:
            pass  # the same submit raced itself in another process, and the other one won
        # Another copy of this submit filed it first: answer with that case, never this token.
        repeat = self._repeat(nonce, declared)
        if repeat is None:
            raise RuntimeError("a submission that lost a race left no case")
        return repeat

    def repeat(self, nonce: str, holds: Holds, declared: Declared = ()) -> Receipt | None:
        """The receipt of an earlier submit with this nonce, or None (cheap: no argon2).

        A copy of a submit still being handled in this process is waited for, so a double tap
        shows the token of the first tap, not a form or an error.
        """
        if not valid_nonce(nonce):
            return None
        self.in_flight.hold(nonce, holds)
        return self._repeat(nonce, declared)

    def await_repeat(self, nonce: str, declared: Declared = (), seconds: float = REPEAT_WAIT_SECONDS) -> Receipt | None:
        """For a copy whose proof-of-work a twin in another process already spent: that twin is
        filing the case, so wait for it rather than tell the reporter to send again."""
        deadline = time.monotonic() + seconds
        while valid_nonce(nonce) and time.monotonic() < deadline:
            receipt = self._repeat(nonce, declared)
            if receipt is not None:
                return receipt
            time.sleep(0.1)
        return None

    def open_case(self, token_text: str) -> Reporter:
        """The case a token opens; raises tokens.Malformed (or Mistyped), Busy, or NotFound."""
        derived = self.derive(token_text)
        with self.db.session() as session:
            case_id = intake_writes.open_case(session, derived.lookup)
        if case_id is None:
            raise NotFound()
        return Reporter(case_id, derived.reporter, token_text, derived.lookup)

    def standing(self, reporter: Reporter) -> Standing:
        with self.db.session() as session:
            case = session.get_one(Case, reporter.case_id)
            view = conversation.view(session, case, reporter.keys)
            key = intake_keys.current(session)
            return Standing(view, conversation.context(case), intake_keys.Published(key.id, key.public_key))

    def seal_follow_up(self, reporter: Reporter, text: str) -> tuple[bytes, bytes | None]:
        """A follow-up typed without JavaScript, sealed here: (team copy, reporter's copy)."""
        with self.db.session() as session:
            return conversation.seal_follow_up(session, session.get_one(Case, reporter.case_id), text)

    def follow_up(
        self, reporter: Reporter, *, team: bytes, mine: bytes | None, declared: Declared = (), whole: Files = ()
    ) -> list[Upload]:
        """Add a message (and files) to the reporter's case; NotFound if the channel is gone."""
        with self.db.session() as session:
            case = session.get_one(Case, reporter.case_id)
            reports.check_envelope(session, team, Purpose.MESSAGE)
            if mine is not None:
                if case.reporter_public_key is None:
                    raise reports.Rejected("this case's reply channel was deleted")
                reports.check_envelope(session, mine, Purpose.MESSAGE, case.reporter_public_key)
            declared_uploads = self._new_uploads(session, declared, _fresh_secret)
            whole_uploads = self._new_uploads(session, [(m, len(c)) for m, c in whole], _fresh_secret)
            message_id = intake_writes.follow_up(
                session, reporter.lookup, team, mine, today(), [u for u, _s in declared_uploads + whole_uploads]
            )
            if message_id is None:
                raise NotFound()
            self._store_whole(session, whole_uploads, whole)
            return [Upload(u.id, secret, u.chunk_count) for u, secret in declared_uploads]

    def seal_details(self, reporter: Reporter, plaintext: bytes) -> bytes:
        """Details typed without JavaScript, sealed here in memory (purpose details)."""
        with self.db.session() as session:
            case = session.get_one(Case, reporter.case_id)
            key = intake_keys.current(session)
            return seal(key.public_key, Purpose.DETAILS, plaintext, context=conversation.context(case, "details"))

    def add_details(self, reporter: Reporter, envelope: bytes) -> int:
        """Store sealed details on the reporter's case; NotFound if the channel is gone."""
        with self.db.session() as session:
            key_id = reports.check_envelope(session, envelope, Purpose.DETAILS)
            found = intake_writes.add_details(session, reporter.lookup, key_id, envelope, today())
            if found is None:
                raise NotFound()
            return found

    def delete_channel(self, reporter: Reporter) -> None:
        with self.db.session() as session:
            if not intake_writes.delete_channel(session, reporter.lookup):
                raise NotFound()

    def _new_uploads(
        self, session: Session, files: Declared, secret_for: Callable[[str], str]
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

    def _store_whole(self, session: Session, uploads: list[tuple[NewUpload, str]], whole: Files) -> None:
        """Files sealed by the server (no JavaScript): every chunk stored now, through the same gate."""
        for (upload, secret), (_manifest, chunks) in zip(uploads, whole, strict=True):
            for index, sealed in enumerate(chunks):
                self.blobs.put(chunk_key(upload.id, index), sealed)
                intake_writes.record_chunk(session, upload.id, secret, index, len(sealed))

    def _repeat(self, nonce: str, declared: Declared = ()) -> Receipt | None:
        """The first filing's receipt. Nothing is rewritten: the upload secrets are derived again
        from the nonce. Its uploads come in the order the copy declares its files, finished ones
        included, because a client pairs uploads with its files by position."""
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
            files = session.scalars(
                select(Attachment)
                .where(Attachment.case_id == case.id, Attachment.message_id.is_(None))
                .order_by(Attachment.id)
            ).all()
            uploads = [Upload(a.id, upload_secret(nonce, a.id), a.chunk_count) for a in _as_declared(files, declared)]
            return Receipt(case.id, shown, False, uploads, case.urgent)


def _as_declared(files: Sequence[Attachment], declared: Declared) -> list[Attachment]:
    """The case's files in the order of ``declared``, matched by their sealed manifests (a copy
    of a submit carries the very same bytes). Without a full match (no JavaScript, where the
    server sealed the files and they are complete), the files still waiting for chunks."""
    by_manifest = {bytes(a.manifest): a for a in files}
    ordered = [by_manifest.get(manifest) for manifest, _count in declared]
    matched = [a for a in ordered if a is not None]
    if declared and len(matched) == len(declared) and len({a.id for a in matched}) == len(matched):
        return matched
    return [a for a in files if not a.complete]
