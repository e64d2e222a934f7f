"""The staff app: caseworkers unlock their keys, read and act on cases.

Runs on its own port (in production an internal network or an authenticated onion service) and
never imports the intake app. Login, inbox and case views arrive with the caseworker-desk issue.
"""

from .app import create_app

__all__ = ["create_app"]
