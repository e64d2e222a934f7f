"""Exceptions raised by the crypto package.

Every failure to open something is an :class:`OpenError` with a message a person can act on;
callers never see a bare ``InvalidTag`` and never get unauthenticated bytes back.
"""


class CryptoError(Exception):
    """Base class for every error raised by this package."""


class OpenError(CryptoError):
    """A ciphertext could not be opened: malformed, tampered with, wrong key or wrong purpose."""


class WrongPurpose(OpenError):
    """The envelope was made for another purpose than the one the caller expects."""


class UnknownKey(OpenError):
    """The envelope names a recipient key id the caller does not hold."""


class TokenError(CryptoError):
    """A reporter token was mistyped or malformed."""


class TokenTypo(TokenError):
    """The token has the right length but its check digit does not match."""


class BadPassword(CryptoError):
    """A password did not unlock a password-protected private key."""
