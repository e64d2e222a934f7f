"""The public intake app: anonymous reports in, sealed before they are stored.

It holds no private key and never imports the caseworker app or cases.keyring. It logs no IP
address or user agent: see :mod:`intake.quiet` for the server side of that promise.
"""

from .app import create_app

__all__ = ["create_app"]
