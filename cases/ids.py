"""Random identifiers: not sequential, so an id reveals neither order nor volume."""

import base64
import secrets


def new_id(nbytes: int = 10) -> str:
    """Lower-case base32 of ``nbytes`` random bytes (10 bytes: 16 characters, 80 bits)."""
    return base64.b32encode(secrets.token_bytes(nbytes)).decode().rstrip("=").lower()
