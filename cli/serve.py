"""Running both apps from one command, each on its own port and host name (development, demo).

Browsers keep cookies per host name, not per port: were both apps reached as 127.0.0.1, the
desk's session cookie would be sent to the intake too. So the intake is printed and served as
one name (127.0.0.1) and the desk as another (localhost), both bound to the same loopback
address, and the desk answers only on its own name.

Production runs each app under gunicorn on its own host (see Dockerfile and deploy/); this is
the embedded default that needs nothing else installed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from werkzeug.serving import make_server

import caseworker
import intake
from cases.config import Settings

from .quiet_server import anonymous_handler

INTAKE_NAME = "127.0.0.1"
DESK_NAME = "localhost"


def _url(name: str, port: int) -> str:
    return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"


def serve(
    settings: Settings,
    host: str,
    intake_port: int,
    caseworker_port: int,
    intake_name: str = INTAKE_NAME,
    desk_name: str = DESK_NAME,
) -> None:
    """``host`` is the address both listen on; the names are how browsers must reach each app.
    Raises ConfigError if the two names are the same."""
    settings = dataclasses.replace(settings, intake_host=intake_name, desk_host=desk_name).checked()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    intake_server = make_server(
        host, intake_port, intake.create_app(settings), threaded=True, request_handler=anonymous_handler("intake")
    )
    # Staff requests are logged without addresses too: the desk may sit behind an onion service.
    desk_server = make_server(
        host,
        caseworker_port,
        caseworker.create_app(settings),
        threaded=True,
        request_handler=anonymous_handler("caseworker"),
    )
    print(f"Reporter form (intake):  {_url(intake_name, intake_server.port)}")
    print(f"Caseworker desk:         {_url(desk_name, desk_server.port)}")
    print("Use these exact addresses: the desk refuses any other host name.")
    print("Press Ctrl+C to stop.", flush=True)
    thread = threading.Thread(target=desk_server.serve_forever, daemon=True)
    thread.start()
    try:
        intake_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        desk_server.shutdown()
        intake_server.server_close()
        desk_server.server_close()
