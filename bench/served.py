"""Run an app under real gunicorn with its ``deploy/`` settings on a free loopback port.

For benches (which do not import tests). The server's stderr, where gunicorn and Flask write
tracebacks, goes to a file the caller names, so a bench can count what went wrong per route.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = {
    "intake": ("deploy/gunicorn_intake.py", "intake.wsgi:app", "RRI_INTAKE_BIND"),
    "desk": ("deploy/gunicorn_caseworker.py", "caseworker.wsgi:app", "RRI_CASEWORKER_BIND"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(app: str, env: Mapping[str, str], stderr: Path, startup_seconds: float = 60.0) -> Iterator[str]:
    """Serve ``app`` ("intake" or "desk"); yields its base URL once /health answers."""
    config, target, bind_variable = APPS[app]
    port = free_port()
    environment = {**env, bind_variable: f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / config), target]
    with open(stderr, "ab") as errors:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn for {app} exited with {process.returncode}; see {stderr}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn for {app} did not answer within {startup_seconds} s") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
