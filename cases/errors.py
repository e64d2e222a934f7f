"""The domain's errors, so the CLI and both apps catch them by type, never by message.

Every error a person can cause or meet derives from ``DomainError``; its message is one plain line
that can be shown as it is. Subclasses say what happened, not where: the apps map them to pages
in one place each (their principal-resolving decorators and error handlers).
"""

from __future__ import annotations


class DomainError(Exception):
    """Something the domain refuses; the message is one line for people."""


class ConfigError(DomainError):
    """A setting is missing or wrong; the message names the variable and what to do."""


class NotFound(DomainError):
    """What was asked for does not exist (or must look as if it did not)."""


class Refused(DomainError):
    """The request is understood and not allowed: no capability, a rule, a spent proof."""


class Invalid(DomainError, ValueError):
    """Input that breaks a rule of its format; the message says which."""


class Busy(DomainError):
    """Too much at once; try again after ``retry_after`` seconds."""

    def __init__(self, message: str = "busy", retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(DomainError):
    """The state changed under the request (already initialised, already exists, already done)."""
