"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn_intake.py intake.wsgi:app``."""

import sys

from cases.config import ConfigError

from . import create_app

try:
    app = create_app()
except ConfigError as error:
    # One line naming the variable, and exit code 3, which makes gunicorn stop instead of
    # restarting workers that can never boot.
    print(f"reprisals intake: {error}", file=sys.stderr)
    sys.exit(3)
