"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn_caseworker.py caseworker.wsgi:app``."""

from . import create_app

app = create_app()
