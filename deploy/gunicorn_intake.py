"""gunicorn settings for the public intake app.

The access log records method, path (no query string), status and size: never the client
address (%(h)s), user agent (%(a)s), referrer or time. Put the app behind a reverse proxy or
onion service that does not log addresses either.
"""

import os

bind = os.environ.get("RRI_INTAKE_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("RRI_INTAKE_WORKERS", "2"))
threads = 4
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(B)s"  # method, path without query, status, size
errorlog = "-"
loglevel = "info"
forwarded_allow_ips = ""  # never trust or record X-Forwarded-For
proxy_allow_ips = ""
