"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn_intake.py intake.wsgi:app``."""

from . import create_app

app = create_app()
