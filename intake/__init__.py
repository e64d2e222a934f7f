"""The public intake app: anonymous reports in, sealed before they are stored.

It holds no private key and never imports the caseworker app or cases.keyring. It logs no IP
address or user agent: cli.quiet_server and deploy/gunicorn_intake.py keep that promise
for the servers that run it.
"""

from .app import create_app

__all__ = ["create_app"]
