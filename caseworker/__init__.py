"""The staff app: caseworkers unlock their keys, read and act on cases.

A thin Flask shell over ``cases``, on its own host name (in production an internal network or an
authenticated onion service): it parses requests (forms), resolves the staff session in one
place (``session.require``), renders pages and holds one typed context (``context.desk()``).
It never imports the intake app, and holds no SQL or crypto of its own.
"""

from .app import create_app

__all__ = ["create_app"]
