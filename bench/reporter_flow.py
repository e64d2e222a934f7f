"""Prints what a reporter on a poor connection pays (a benchmark, not a test).

    .venv/bin/python bench/reporter_flow.py

A throw-away installation (production argon2id, default proof-of-work) is served on a loopback
port and driven by a real headless Chromium:

1. Page weight: the bytes Chromium receives (headers and body as the app ships them, gzip
   included) for a fresh first load of the form (budget 15 KB) and of the status page (10 KB),
   in each of the six languages.
2. Flow time on an emulated slow link (500 ms latency, 50 kbit/s down, 20 kbit/s up, no cache),
   with JavaScript on and off: load the form, send a report with one 100 KiB attachment, open
   the status page with the token. Typing and the no-JavaScript waiting time are not counted.

Takes about three minutes, most of it pushing the attachment through the 20 kbit/s uplink.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

import intake
from cases import audit, installation
from cases.config import Settings
from cli.main import open_database

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    # Belt and braces: no host name resolves, so nothing can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
BUDGETS = {"": 15 * 1024, "status": 10 * 1024}  # bytes on the wire: the form's first load, the status page's
WEIGHT_LANGUAGES = ("en", "fr", "es", "ar", "zh", "ru")
DOWN_BPS, UP_BPS, LATENCY_MS = 50_000, 20_000, 500
SLOW_LINK = {
    "offline": False,
    "latency": LATENCY_MS,
    "downloadThroughput": DOWN_BPS / 8,  # CDP wants bytes per second
    "uploadThroughput": UP_BPS / 8,
}
ATTACHMENT_BYTES = 100 * 1024
NO_JS_FORM_SECONDS = 2.1  # cases.proof_of_work.MIN_FORM_SECONDS, plus a margin; not counted
STEP_TIMEOUT_MS = 180_000  # the attachment alone takes ~45 s at 20 kbit/s
TOKEN = re.compile(r"^\d{4} \d{4} \d{4} \d{4} \d{4}$")
INTERRUPTED = threading.Event()


# -- the server ------------------------------------------------------------------------------


@contextmanager
def live_server(home: Path) -> Iterator[str]:
    """An initialised installation in ``home``, served on a loopback port; yields its base URL."""
    # Only these two variables: a developer's RRI_*/DATABASE_URL must not leak into the figures.
    settings = Settings.from_env({"RRI_HOME": str(home), "RRI_ARGON2": "production"})
    db = open_database(settings, prepare=True)
    with db.session() as session:
        result = installation.initialise(session, "bench", secrets.token_urlsafe(12), settings.argon2)
        audit.record(session, "installation.init", actor_id=result.admin.id, detail="bench")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines in the output
    server = make_server("127.0.0.1", 0, intake.create_app(settings, db), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        db.engine.dispose()


# -- 1. page weight --------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    path: str
    wire: int  # bytes Chromium received: headers and body as shipped (encodedDataLength)
    encoding: str


def first_load(browser: Browser, url: str) -> list[Resource]:
    """Every response of a first load in a fresh context (so an empty cache), as received."""
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        seen: dict[str, tuple[str, str]] = {}
        sizes: dict[str, int] = {}

        def response(event: dict[str, Any]) -> None:
            headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
            seen[event["requestId"]] = (event["response"]["url"], headers.get("content-encoding", "-"))

        cdp.on("Network.responseReceived", response)
        cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        document = page.goto(url, wait_until="load")
        if document is None or document.status != 200:
            raise RuntimeError(f"{url} did not load")
        page.wait_for_timeout(300)  # a late request (the favicon) is counted too
        rows = []
        for request_id, (address, encoding) in seen.items():
            if urlsplit(address).hostname != "127.0.0.1":
                raise RuntimeError(f"request off loopback: {address}")
            rows.append(Resource(urlsplit(address).path, sizes.get(request_id, 0), encoding))
        return rows
    finally:
        context.close()


def print_weight(path: str, rows: list[Resource], budget: int) -> bool:
    total = sum(r.wire for r in rows)
    verdict = "PASS" if total <= budget else "FAIL"
    detail = ", ".join(f"{r.path} {r.wire} B ({r.encoding})" for r in rows)
    print(f"  {path:<12} {len(rows):>8} {total:>8}   {verdict} (budget {budget} B)   {detail}")
    return verdict == "PASS"


# -- 2. flow on a slow link ------------------------------------------------------------------


@dataclass
class Meter:
    """Requests and bytes the emulated link carried, from the DevTools protocol.

    Up: request line, headers and body (the Content-Length of the headers actually sent).
    Down: encodedDataLength, i.e. response headers and body as received.
    """

    requests: int = 0
    up: int = 0
    down: int = 0
    pending: set[str] = field(default_factory=set)
    foreign: list[str] = field(default_factory=list)

    def attach(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._will_send)
        cdp.on("Network.requestWillBeSentExtraInfo", self._extra_info)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", lambda event: self.pending.discard(event["requestId"]))

    def _will_send(self, event: dict[str, Any]) -> None:
        request = event["request"]
        url = urlsplit(request["url"])
        if url.hostname != "127.0.0.1":
            self.foreign.append(request["url"])  # raised by measure(): a handler's exception would be lost
        target = url.path + (f"?{url.query}" if url.query else "")
        self.requests += 1
        self.up += len(f"{request['method']} {target} HTTP/1.1\r\n")
        self.pending.add(event["requestId"])

    def _extra_info(self, event: dict[str, Any]) -> None:
        headers = event["headers"]
        self.up += sum(len(name) + len(str(value)) + 4 for name, value in headers.items()) + 2
        self.up += int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))

    def _finished(self, event: dict[str, Any]) -> None:
        self.down += int(event["encodedDataLength"])
        self.pending.discard(event["requestId"])

    def reset(self) -> None:
        self.requests = self.up = self.down = 0

    def settle(self, page: Page, limit: float = 10.0) -> None:
        """Let in-flight responses finish so their bytes land in the step that caused them."""
        deadline = time.monotonic() + limit
        while self.pending and time.monotonic() < deadline:
            page.wait_for_timeout(50)


@dataclass(frozen=True)
class Step:
    label: str
    seconds: float
    requests: int
    up: int
    down: int


def measure(page: Page, meter: Meter, label: str, action: Callable[[], None]) -> Step:
    meter.settle(page)
    meter.reset()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    meter.settle(page)
    if meter.foreign:  # sanity: the pages must load nothing from elsewhere
        raise RuntimeError(f"requests off loopback: {meter.foreign}")
    return Step(label, seconds, meter.requests, meter.up, meter.down)


def fill_report(page: Page) -> None:
    """The quick form's three questions, as the browser tests answer them, and one attachment of
    incompressible bytes."""
    page.fill("#f-what_happened", "They took my colleague after the session. We do not know where he is.")
    page.check("input[name=danger][value=yes]")
    page.check("input[name=consent_act][value=yes]")
    # A PDF: like a photo it does not compress, but it skips the metadata pass (strip.js).
    evidence = secrets.token_bytes(ATTACHMENT_BYTES)
    page.set_input_files("#f-files", [{"name": "evidence.pdf", "mimeType": "application/pdf", "buffer": evidence}])


def run_flow(browser: Browser, base: str, js: bool) -> list[Step]:
    context = browser.new_context(java_script_enabled=js)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
        meter = Meter()
        meter.attach(cdp)
        steps = []

        steps.append(measure(page, meter, "load the form", lambda: page.goto(f"{base}/en/", wait_until="load")))
        fill_report(page)
        if not js:
            page.wait_for_timeout(NO_JS_FORM_SECONDS * 1000)  # the form must have been open a moment

        def send() -> None:
            page.click("#send")
            if js:  # the receipt shows at once; the files follow in the background
                page.wait_for_selector("#progress:has-text('All files were sent')")
            else:
                page.wait_for_selector("#token")

        steps.append(measure(page, meter, f"send report + {ATTACHMENT_BYTES // 1024} KiB file", send))
        token = page.inner_text("#token").strip()
        if not TOKEN.match(token):
            raise RuntimeError(f"no token on the receipt: {token!r}")

        steps.append(
            measure(page, meter, "load the status page", lambda: page.goto(f"{base}/en/status", wait_until="load"))
        )
        page.fill("#token", token)
        if not js:
            page.wait_for_timeout(NO_JS_FORM_SECONDS * 1000)

        def open_case() -> None:
            page.click("form.pow button")
            page.wait_for_selector("text=Where it is now")

        steps.append(measure(page, meter, "open the case with the token", open_case))
        return steps
    finally:
        context.close()


def print_flow(title: str, steps: list[Step]) -> None:
    print(f"\n{title}")
    print(f"  {'step':<32} {'seconds':>8} {'requests':>8} {'up B':>9} {'down B':>9}")
    for s in steps:
        print(f"  {s.label:<32} {s.seconds:>8.1f} {s.requests:>8} {s.up:>9} {s.down:>9}")
    total = Step("total", *(sum(getattr(s, f) for s in steps) for f in ("seconds", "requests", "up", "down")))
    print(f"  {total.label:<32} {total.seconds:>8.1f} {total.requests:>8} {total.up:>9} {total.down:>9}")


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rri-bench-") as tmp, live_server(Path(tmp) / "home") as base:
        print(f"Installation in {tmp} (argon2id production, proof-of-work 12 bits), serving {base}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                print("\n== Page weight: first load, fresh context, no cache, JavaScript on ==")
                print("Bytes Chromium received from the server as shipped (headers + body, gzip by the app),")
                print("from the DevTools protocol's encodedDataLength, every request of the load counted.")
                print(f"  {'page':<12} {'requests':>8} {'wire B':>8}")
                passed = [
                    print_weight(f"/{lang}/{page}", first_load(browser, f"{base}/{lang}/{page}"), budget)
                    for lang in WEIGHT_LANGUAGES
                    for page, budget in BUDGETS.items()
                ]

                print(
                    f"\n== Flow on a slow link: {LATENCY_MS} ms latency, {DOWN_BPS // 1000} kbit/s down, "
                    f"{UP_BPS // 1000} kbit/s up, cache disabled =="
                )
                print("Typing is not counted; nor is the no-JavaScript wait before sending (2.1 s per form).")
                print("Time ends when the page shows the result; bytes are all the step made the link carry")
                print("(headers included; GET pages gzipped by the app, POST answers not: docs/protocol.md §13).")
                print_flow("JavaScript on (sealed in the browser, chunked upload)", run_flow(browser, base, js=True))
                print_flow("JavaScript off (sealed on the server, multipart POST)", run_flow(browser, base, js=False))
            finally:
                browser.close()
    verdict = "PASS" if all(passed) else "FAIL"
    print(f"\nPage weight budget: {verdict}.  Benchmark took {time.perf_counter() - started:.0f} s.")
    return 0


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    # Ctrl+C also reaches the Playwright driver and Chromium (same process group), so the
    # interruption may surface as "target closed" rather than KeyboardInterrupt: remember it.
    INTERRUPTED.set()
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the dead driver's leftover futures
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        sys.exit(main())
    except (KeyboardInterrupt, PlaywrightError):
        if not INTERRUPTED.is_set():
            raise
        # The with-blocks in main() have stopped the server and removed the installation.
        print("\ninterrupted; server stopped, temporary installation removed", file=sys.stderr)
        sys.exit(130)
