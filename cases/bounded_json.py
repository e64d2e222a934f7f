"""JSON from people we do not trust, parsed with explicit bounds before anything else reads it.

``json.loads`` alone recurses once per nesting level (``RecursionError`` on a deep document),
turns ``1e999`` into ``inf`` (``OverflowError`` later, in ``int(size)``), accepts ``NaN``, keeps
the last of duplicated keys, and returns lone surrogates that fail when re-encoded to UTF-8.
Every decoder of reporter-controlled JSON (the intake's request bodies, and in the desk the
sealed report, manifests, messages and triage) goes through ``loads`` here, so each of those is
a plain ``BoundedJSONError`` (a ``ValueError``) at the boundary and never a crash further in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Integers beyond 2**53 are not exact in a browser's JSON.parse, nor storable in most columns.
MAX_SAFE_INT = 2**53 - 1


class BoundedJSONError(ValueError):
    """The document is not JSON, or breaks one of the bounds; the message says which."""


@dataclass(frozen=True)
class Bounds:
    max_bytes: int = 1024 * 1024
    max_depth: int = 16
    max_string: int = 200_000  # characters in any one string (keys included)
    max_members: int = 10_000  # values in the whole document


DEFAULT = Bounds()


def _depth_ok(text: str, limit: int) -> bool:
    """Nesting never exceeds ``limit``; a linear scan that never recurses (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _no_constant(name: str) -> Any:
    raise BoundedJSONError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BoundedJSONError("number out of range")
    return value


def _int(text: str) -> int:
    # Checked on the text first: Python's int() of a long digit string is itself slow.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_SAFE_INT:
        raise BoundedJSONError("number out of range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise BoundedJSONError("duplicate key")
    return result


def _check_values(document: Any, bounds: Bounds) -> None:
    """Counts values and checks every string (keys too), iteratively."""
    pending = [document]
    seen = 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > bounds.max_members:
            raise BoundedJSONError("too many values")
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if len(value) > bounds.max_string:
                raise BoundedJSONError("string too long")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise BoundedJSONError("lone surrogate in a string") from None


def loads(data: bytes | str, bounds: Bounds = DEFAULT) -> Any:
    """Parse ``data`` (UTF-8 if bytes) within ``bounds``; raises BoundedJSONError, nothing else."""
    if len(data) > bounds.max_bytes:
        raise BoundedJSONError("document too large")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BoundedJSONError("not UTF-8") from None
    else:
        text = data
    if not _depth_ok(text, bounds.max_depth):
        raise BoundedJSONError("nested too deeply")
    try:
        document = json.loads(
            text, parse_constant=_no_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
        )
    except BoundedJSONError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise BoundedJSONError(f"not JSON: {exc}") from None
    _check_values(document, bounds)
    return document
