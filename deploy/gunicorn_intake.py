"""gunicorn settings for the public intake app.

The access log records method, path (no query string), status and size: never the client
address (%(h)s), user agent (%(a)s), referrer or time. Put the app behind a reverse proxy or
onion service that does not log addresses either.
"""

import os

from intake.quiet import GUNICORN_ACCESS_LOG_FORMAT

bind = os.environ.get("RRI_INTAKE_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("RRI_INTAKE_WORKERS", "2"))
threads = 4
accesslog = "-"
access_log_format = GUNICORN_ACCESS_LOG_FORMAT
errorlog = "-"
loglevel = "info"
forwarded_allow_ips = ""  # never trust or record X-Forwarded-For
proxy_allow_ips = ""
