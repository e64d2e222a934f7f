"""The public intake app: anonymous reports in, sealed before they are stored.

A thin Flask shell over ``cases``: it parses requests (forms, schemas, bodies), resolves the
reporter's token in one place (principal), renders pages (pages, report, status, api,
error_pages) and holds one typed context (context). Every SQL query, seal and rule is in
``cases`` (filing, proof_of_work, sealing, uploads).

It holds no private key and never imports the caseworker app or cases.keyring. It logs no IP
address or user agent: cli.quiet_server and deploy/gunicorn_intake.py keep that promise
for the servers that run it.
"""

from .app import create_app

__all__ = ["create_app"]
