"""The JSON bodies app.js sends, parsed once at the boundary into typed, bounded values.

``cases.bounded_json`` refuses hostile structure (depth, huge numbers, NaN, duplicate keys, lone
surrogates, size) before anything else reads the body; pydantic then checks each member's type
strictly (``"urgent": "yes"`` or ``"challenge": 1`` is an error, not a guess) and its bounds, and
decodes the base64 members. Anything that fails is a ``BadBody``: a 400 with a plain message.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from cases import bounded_json
from cases.proof_of_work import MAX_SOLUTION_DIGITS

MAX_BODY_BYTES = 4 * 1024 * 1024  # a sealed 100,000-character account, in base64, fits with room
_BODY = bounded_json.Bounds(max_bytes=MAX_BODY_BYTES, max_depth=4, max_string=MAX_BODY_BYTES, max_members=1000)
MAX_DECLARED_FILES = 100  # the configured limit (at most this) is checked when files are declared
MAX_CHUNKS = 1 << 20  # far above any allowed file; the exact size limits are checked on declaring
_B64 = re.compile(r"[A-Za-z0-9_-]+")


M = TypeVar("M", bound=BaseModel)


class BadBody(ValueError):
    """The body is not what app.js sends."""


def _base64(max_chars: int) -> BeforeValidator:
    def decode(value: object) -> bytes:
        if not isinstance(value, str) or not 0 < len(value) <= max_chars or not _B64.fullmatch(value):
            raise ValueError("expected base64url text")
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("bad base64") from exc

    return BeforeValidator(decode)


Sealed = Annotated[bytes, _base64(MAX_BODY_BYTES)]
Manifest = Annotated[bytes, _base64(64 * 1024)]
Challenge = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Solution = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SOLUTION_DIGITS, pattern=r"^[0-9]+$")]
# What secrets.token_urlsafe(18) makes: a guessable nonce must not open someone's receipt box.
Nonce = Annotated[str, StringConstraints(min_length=22, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Token = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DeclaredFile(_Strict):
    manifest: Manifest
    chunks: Annotated[int, Field(ge=1, le=MAX_CHUNKS)]


class Paid(_Strict):
    challenge: Challenge
    solution: Solution
    files: Annotated[list[DeclaredFile], Field(max_length=MAX_DECLARED_FILES)] = []

    def declared(self) -> list[tuple[bytes, int]]:
        return [(f.manifest, f.chunks) for f in self.files]


class ReportBody(Paid):
    report: Sealed
    nonce: Nonce
    urgent: bool


class TokenBody(Paid):
    token: Token


class MessageBody(TokenBody):
    team: Sealed
    mine: Sealed | None = None


def document(data: bytes) -> object:
    """The body as JSON within bounds, or BadBody."""
    try:
        return bounded_json.loads(data, _BODY)
    except bounded_json.BoundedJSONError as exc:
        raise BadBody(str(exc)) from None


def parse(model: type[M], parsed: object) -> M:
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        raise BadBody(str(exc)) from None


class DetailsBody(TokenBody):
    """Details added later, sealed in the browser (purpose details): no files come with them."""

    details: Sealed
