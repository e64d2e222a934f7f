"""gunicorn settings for the caseworker app (internal network or authenticated onion service)."""

import os

bind = os.environ.get("RRI_CASEWORKER_BIND", "0.0.0.0:8081")
workers = 1  # unlocked keys live in process memory; one worker keeps a session on one process
threads = 8
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(B)s"  # staff addresses are not kept either
errorlog = "-"
loglevel = "info"
