"""gunicorn settings for the caseworker app (internal network or authenticated onion service).

As for the intake, gunicorn's access log is off and the app logs method, route pattern and
status only (web/access_log.py): no case ids, staff addresses or times.
"""

import os

bind = os.environ.get("RRI_CASEWORKER_BIND", "0.0.0.0:8081")
workers = 1  # unlocked keys live in process memory; one worker keeps a session on one process
worker_class = "gthread"
threads = 8
accesslog = None
errorlog = "-"
loglevel = "info"
control_socket_disable = True  # see deploy/gunicorn_intake.py
