"""A real intake server on a loopback port, in this process, and a real headless Chromium.

The server runs in a thread so tests can act through the domain layer (a caseworker's reply, a
status change) on the same database while the browser talks to the server over a socket.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server

import intake
from cases.config import Settings
from cases.db import Database

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"]


@dataclass
class Live:
    url: str
    settings: Settings
    database: Database
    bodies: list[bytes] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live(settings, database, installed) -> Iterator[Live]:
    # Low proof-of-work so the browser tests spend their time on behaviour, not hashing.
    fast = dataclasses.replace(settings, pow_bits=4)
    with serve(intake.create_app(fast, database)) as url:
        yield Live(url, fast, database)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, live: Live, js: bool = True, **options):
    """A fresh browser context that records every request body and URL it sends."""
    context = browser.new_context(java_script_enabled=js, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def record(request) -> None:
        live.urls.append(request.url)
        body = request.post_data_buffer
        if body:
            live.bodies.append(body)

    page.on("request", record)
    page.js_errors = errors
    return page
