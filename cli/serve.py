"""Running both apps from one command, each on its own port (development and the demo).

Production runs each app under gunicorn on its own host (see Dockerfile and deploy/); this is
the embedded default that needs nothing else installed.
"""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

import caseworker
import intake
from cases.config import Settings

from .quiet_server import anonymous_handler


def serve(settings: Settings, host: str, intake_port: int, caseworker_port: int) -> None:
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
    print(f"Reporter form (intake):  http://{host}:{intake_server.port}/")
    print(f"Caseworker desk:         http://{host}:{desk_server.port}/")
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
