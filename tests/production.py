"""The production path in tests: the apps under real gunicorn, and a proxy that breaks links.

``gunicorn_app`` starts an app with its ``deploy/gunicorn_*.py`` settings on a free loopback
port, as a subprocess importing this checkout, and stops it afterwards. ``CuttingProxy`` sits
between a client and that server and, for the next connection it is told about, cuts the
request after some bytes (a clean close or a reset), or lets the request through and drops the
connection before the client sees the answer. The dev server refuses a short body itself; only
the real server and a real broken link show what the app does with one.
"""

from __future__ import annotations

import http.client
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
APPS = {
    "intake": ("deploy/gunicorn_intake.py", "intake.wsgi:app"),
    "caseworker": ("deploy/gunicorn_caseworker.py", "caseworker.wsgi:app"),
}
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    final_log: str | None = None  # kept when the server stops and its log file is removed

    def log(self) -> str:
        """Everything gunicorn and the app wrote so far (access log and errors)."""
        if self.final_log is not None:
            return self.final_log
        return self.log_path.read_text(errors="replace")


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an http_proxy from the env


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url + "/health", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP answer of any kind: the app is up
    except OSError:
        return False


@contextmanager
def gunicorn_app(app: Literal["intake", "caseworker"], env: dict[str, str], **extra_env: str) -> Iterator[Server]:
    """Run ``app`` under gunicorn with the shipped settings; yields once it answers /health."""
    config, target = APPS[app]
    port = free_port()
    child_env = {
        **env,
        "RRI_ARGON2": "testing",
        "PYTHONPATH": str(ROOT),
        f"RRI_{app.upper()}_BIND": f"127.0.0.1:{port}",
        **extra_env,
    }
    with tempfile.NamedTemporaryFile(prefix=f"gunicorn-{app}-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / config), target],
            cwd=ROOT,
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGQUIT)  # quick shutdown: a test has no requests to finish
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.final_log = server.log()
        log_path.unlink(missing_ok=True)


Mode = Literal["pass", "cut", "reset", "drop_response"]


@dataclass
class _Plan:
    mode: Mode
    after: int = 0  # bytes of the request (headers included) let through before a cut


def _close(sock: socket.socket, reset: bool = False) -> None:
    with suppress(OSError):
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN; SHUT_RD sends
            # nothing but wakes a thread blocked reading it, which would otherwise delay the close.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@dataclass
class CuttingProxy:
    """A loopback TCP proxy to ``port``; ``plan`` a fault for the next connection."""

    port: int
    listen_port: int = 0
    _plans: list[_Plan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def plan(self, mode: Mode, after: int = 0) -> None:
        """The next accepted connection gets ``mode``; later ones pass through again."""
        with self._lock:
            self._plans.append(_Plan(mode, after))

    def _next_plan(self) -> _Plan:
        with self._lock:
            return self._plans.pop(0) if self._plans else _Plan("pass")

    def start(self) -> CuttingProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.listen_port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            _close(self._listener)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, self._next_plan()), daemon=True).start()

    def _serve(self, client: socket.socket, plan: _Plan) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.port))
        done = threading.Event()
        back = threading.Thread(target=self._answer, args=(upstream, client, plan, done), daemon=True)
        back.start()
        sent = 0
        try:
            while not done.is_set():
                data = client.recv(65536)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    break
                if plan.mode in ("cut", "reset") and sent + len(data) >= plan.after:
                    upstream.sendall(data[: plan.after - sent])
                    # Give the server the partial body before the link goes.
                    time.sleep(0.2)
                    _close(upstream, reset=plan.mode == "reset")
                    _close(client, reset=plan.mode == "reset")
                    done.set()
                    return
                upstream.sendall(data)
                sent += len(data)
        except OSError:
            _close(upstream)
            _close(client)
        back.join(timeout=60)

    @staticmethod
    def _answer(upstream: socket.socket, client: socket.socket, plan: _Plan, done: threading.Event) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if plan.mode == "drop_response":
                    # The server has answered, so the request was handled: the client never hears.
                    upstream.settimeout(1.0)
                    with suppress(OSError):
                        while upstream.recv(65536):
                            pass
                    _close(client, reset=True)
                    _close(upstream)
                    done.set()
                    return
                client.sendall(data)
        except OSError:
            pass
        done.set()
        _close(client)
        _close(upstream)


@contextmanager
def cutting_proxy(port: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def exchange(
    base_url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 30
) -> Reply:
    """One request on its own connection; raises OSError/HTTPException if the link breaks."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def send(
    base_url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    reply = exchange(base_url, method, path, body, headers, timeout)
    return reply.status, reply.body


def link_broke(base_url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> bool:
    """Send through a planned fault; True if the client saw the link break (no answer)."""
    try:
        send(base_url, method, path, body, headers)
    except (OSError, http.client.HTTPException):
        return True
    return False
