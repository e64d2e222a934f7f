"""gunicorn settings for the public intake app.

gunicorn's access log is off: the app logs each request as method, route pattern and status
(web/access_log.py), never the concrete path (upload ids, language), the client address
(%(h)s), user agent (%(a)s), referrer or time. Put the app behind a reverse proxy or onion
service that does not log addresses either.

Threads: argon2 runs in at most RRI_ARGON2_SLOTS threads per worker (cases/limits.py) and
releases the GIL; the other threads keep pages, uploads and /health answering, and take the
requests that find the argon2 queue full, so those get 503 + Retry-After at once instead of
waiting in gunicorn's backlog behind argon2.
"""

import os

bind = os.environ.get("RRI_INTAKE_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("RRI_INTAKE_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("RRI_INTAKE_THREADS", "32"))
accesslog = None
errorlog = "-"
loglevel = "info"
forwarded_allow_ips = ""  # never trust or record X-Forwarded-For
proxy_allow_ips = ""
# gunicorn >= 25 opens a control socket under $HOME, which is the shared data volume in the
# Docker example: nobody needs runtime control of this server, so there is none.
control_socket_disable = True


def on_starting(server: object) -> None:
    """Before any worker writes: remove what killed writers left in the blob store."""
    from cases.blob_sweep import sweep
    from cases.config import Settings
    from cases.db import Database

    try:
        settings = Settings.from_env()
        db = Database(settings.database_url)
        try:
            outcome = sweep(settings.blob_dir, db).summary()
        finally:
            db.engine.dispose()
    except Exception as exc:  # a failed sweep must not keep reporters out: say so and serve
        outcome = f"skipped ({type(exc).__name__}); run 'reprisals sweep'"
    print(f"blob store sweep: {outcome}", flush=True)
