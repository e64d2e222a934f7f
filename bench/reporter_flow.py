"""Prints what a reporter on a GPRS-class connection pays (a benchmark, not a test).

    .venv/bin/python bench/reporter_flow.py

A throw-away installation on SQLite (production argon2id, the default proof-of-work) is served
by gunicorn with the deploy/ settings (bench/servers.py) on a loopback port and driven by a real
headless Chromium:

1. Page weight: the bytes Chromium receives (headers and body as the app ships them, Brotli
   included) for a fresh first load of the form (budget 15 KB), the status look-up page and the
   status page of a case, opened with its token (10 KB each), in each of the six languages.
2. The quick report on an emulated GPRS link (500 ms latency, 50 kbit/s down, 20 kbit/s up, no
   cache; DevTools' Network.emulateNetworkConditions), JavaScript on and off: load the form,
   answer only `danger`, `what_happened` and `consent_act`, send, the token shown (with
   JavaScript: on the receipt page the script ends on, which survives a reload), then the
   receipt's "Follow your report" opens the case's status page with the token it holds.
   Typing, ticking "I have kept my token" and the no-JavaScript wait before a form may be
   sent are not counted. Each step: its time, requests, bytes up and down (headers
   included), its physical limit and how far it is from it; then the total against the 8 s
   budget.

   Physical limit of a step = sequential round trips × latency + bytes down / 50 kbit/s
   + bytes up / 20 kbit/s. "Sequential round trips" are the step's requests that could not
   overlap: a request started after every earlier request of the step had finished begins a new
   round trip (Chromium's emulation delays each request by the latency once; a step can come in
   slightly under the limit, which is a model of the link).

Fields are found by name, so the bench works whatever the form's layout. About a minute.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from the checkout

from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from bench.servers import installation, intake_server
from cases.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    # Belt and braces: no host name resolves, so nothing can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
FORM_BUDGET, STATUS_BUDGET = 15 * 1024, 10 * 1024  # bytes on the wire, first load
WEIGHT_LANGUAGES = ("en", "fr", "es", "ar", "zh", "ru")
DOWN_BPS, UP_BPS, LATENCY_MS = 50_000, 20_000, 500
FLOW_BUDGET_SECONDS = 8.0
SLOW_LINK = {
    "offline": False,
    "latency": LATENCY_MS,
    "downloadThroughput": DOWN_BPS / 8,  # CDP wants bytes per second
    "uploadThroughput": UP_BPS / 8,
}
FORMULA = (
    f"limit = sequential round trips x {LATENCY_MS} ms + bytes down x 8 / {DOWN_BPS} bit/s"
    f" + bytes up x 8 / {UP_BPS} bit/s"
)
NO_JS_FORM_SECONDS = 2.1  # cases.proof_of_work.MIN_FORM_SECONDS, plus a margin; not counted
STEP_TIMEOUT_MS = 120_000
TOKEN = re.compile(r"^\d{4} \d{4} \d{4} \d{4} \d{4}$")
WHAT_HAPPENED = "They took my colleague after the session. We do not know where he is."
INTERRUPTED = threading.Event()


# -- the server ------------------------------------------------------------------------------


@contextmanager
def served() -> Iterator[str]:
    """A fresh installation on SQLite, its intake under gunicorn with the deploy/ settings."""
    with installation("sqlite", argon2="production", pow_bits=Settings.pow_bits) as inst, intake_server(inst) as server:
        yield server.url


# -- 1. page weight --------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    path: str
    wire: int  # bytes Chromium received: headers and body as shipped (encodedDataLength)
    encoding: str


def _recorder(cdp: CDPSession) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    seen: dict[str, tuple[str, str]] = {}
    sizes: dict[str, int] = {}

    def response(event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        seen[event["requestId"]] = (event["response"]["url"], headers.get("content-encoding", "-"))

    cdp.on("Network.responseReceived", response)
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    return seen, sizes


def _rows(seen: dict[str, tuple[str, str]], sizes: dict[str, int]) -> list[Resource]:
    rows = []
    for request_id, (address, encoding) in seen.items():
        if urlsplit(address).hostname != "127.0.0.1":
            raise RuntimeError(f"request off loopback: {address}")
        rows.append(Resource(urlsplit(address).path, sizes.get(request_id, 0), encoding))
    return rows


def first_load(browser: Browser, url: str, token: str | None = None) -> list[Resource]:
    """Every response of a first load in a fresh context (so an empty cache), as received; with
    ``token``, of the status page that token opens (the look-up page itself not counted)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        seen, sizes = _recorder(cdp)
        document = page.goto(url, wait_until="load")
        if document is None or document.status != 200:
            raise RuntimeError(f"{url} did not load")
        if token is not None:
            page.wait_for_timeout(300)
            seen.clear()
            page.fill("#token", token)
            page.click("form.pow button")
            page.wait_for_selector("#follow-up", timeout=STEP_TIMEOUT_MS)
        page.wait_for_timeout(300)  # a late request (the favicon) is counted too
        return _rows(seen, sizes)
    finally:
        context.close()


def print_weight(label: str, rows: list[Resource], budget: int) -> bool:
    total = sum(r.wire for r in rows)
    verdict = "PASS" if total <= budget else "FAIL"
    detail = ", ".join(f"{r.path} {r.wire} B ({r.encoding})" for r in rows)
    print(f"  {label:<22} {len(rows):>8} {total:>8}   {verdict} (budget {budget} B)   {detail}")
    return verdict == "PASS"


# -- 2. flow on a slow link ------------------------------------------------------------------


@dataclass
class Meter:
    """Requests and bytes the emulated link carried, from the DevTools protocol.

    Up: request line, headers and body (the Content-Length of the headers actually sent).
    Down: encodedDataLength, i.e. response headers and body as received.
    Each request's start and end (DevTools timestamps) give the sequential round trips.
    """

    requests: int = 0
    up: int = 0
    down: int = 0
    pending: set[str] = field(default_factory=set)
    foreign: list[str] = field(default_factory=list)
    spans: dict[str, list[float]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)

    def attach(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._will_send)
        cdp.on("Network.requestWillBeSentExtraInfo", self._extra_info)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", self._failed)

    def _will_send(self, event: dict[str, Any]) -> None:
        request = event["request"]
        url = urlsplit(request["url"])
        if url.scheme == "data":
            return  # the inline icon: nothing on the wire
        if url.hostname != "127.0.0.1":
            self.foreign.append(request["url"])  # raised by measure(): a handler's exception would be lost
        target = url.path + (f"?{url.query}" if url.query else "")
        self.requests += 1
        self.up += len(f"{request['method']} {target} HTTP/1.1\r\n")
        self.pending.add(event["requestId"])
        self.spans[event["requestId"]] = [float(event["timestamp"]), float(event["timestamp"])]
        self.names[event["requestId"]] = f"{request['method']} {url.path}"

    def _extra_info(self, event: dict[str, Any]) -> None:
        headers = event["headers"]
        self.up += sum(len(name) + len(str(value)) + 4 for name, value in headers.items()) + 2
        self.up += int(next((v for k, v in headers.items() if k.lower() == "content-length"), 0))

    def _finished(self, event: dict[str, Any]) -> None:
        self.down += int(event["encodedDataLength"])
        self.received[event["requestId"]] = int(event["encodedDataLength"])
        self._ended(event)

    def _failed(self, event: dict[str, Any]) -> None:
        self._ended(event)

    def _ended(self, event: dict[str, Any]) -> None:
        self.pending.discard(event["requestId"])
        if event["requestId"] in self.spans:
            self.spans[event["requestId"]][1] = float(event["timestamp"])

    def round_trips(self) -> int:
        """Requests that began after every earlier one had finished: each starts a round trip."""
        trips, frontier = 0, float("-inf")
        for start, end in sorted(self.spans.values()):
            if start >= frontier:
                trips += 1
            frontier = max(frontier, end)
        return trips

    def detail(self) -> list[str]:
        """Each request of the step: when it started and ended (seconds from the first), bytes down."""
        if not self.spans:
            return []
        zero = min(start for start, _end in self.spans.values())
        return [
            f"{self.names[rid]} {start - zero:.2f}-{end - zero:.2f} s, {self.received.get(rid, 0)} B down"
            for rid, (start, end) in sorted(self.spans.items(), key=lambda item: item[1])
        ]

    def reset(self) -> None:
        self.requests = self.up = self.down = 0
        self.spans.clear()
        self.names.clear()
        self.received.clear()

    def settle(self, page: Page, limit: float = 10.0) -> None:
        """Let in-flight responses finish so their bytes land in the step that caused them."""
        deadline = time.monotonic() + limit
        while self.pending and time.monotonic() < deadline:
            page.wait_for_timeout(50)


@dataclass(frozen=True)
class Step:
    label: str
    seconds: float | None  # None: not timed (typing)
    requests: int
    trips: int
    up: int
    down: int
    detail: tuple[str, ...] = ()

    @property
    def limit(self) -> float:
        return self.trips * LATENCY_MS / 1000 + self.down * 8 / DOWN_BPS + self.up * 8 / UP_BPS


def measure(page: Page, meter: Meter, label: str, action: Callable[[], None], timed: bool = True) -> Step:
    meter.settle(page)
    meter.reset()
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    meter.settle(page)
    if meter.foreign:  # sanity: the pages must load nothing from elsewhere
        raise RuntimeError(f"requests off loopback: {meter.foreign}")
    trips = meter.round_trips()
    return Step(label, seconds if timed else None, meter.requests, trips, meter.up, meter.down, tuple(meter.detail()))


def fill_quick_report(page: Page) -> None:
    """Only the three questions of the quick report, found by name (any layout of the form)."""
    page.check("input[name=danger][value=no]")
    page.fill("[name=what_happened]", WHAT_HAPPENED)
    page.check("input[name=consent_act][value=yes]")


def send_button(page: Page) -> str:
    return "#send" if page.locator("#send").count() else "form#report [type=submit]"


def run_flow(browser: Browser, base: str, js: bool) -> tuple[list[Step], float | None]:
    """The steps, and (JavaScript on) when the token was first shown within the send step."""
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

        def typing() -> None:
            fill_quick_report(page)
            if js:  # the script imports seal.js at the first keystroke: let it arrive
                page.wait_for_function("() => !!document.querySelector('#report')")
            else:
                page.wait_for_timeout(NO_JS_FORM_SECONDS * 1000)  # the form must have been open a moment

        steps.append(measure(page, meter, "  (typing, not timed)", typing, timed=False))
        first_shown: list[float] = []

        def send() -> None:
            started = time.perf_counter()
            page.click(send_button(page))
            # With JavaScript the token shows on the receipt page the script moves to once the report
            # is filed (with files, it shows it at once, on the form's page, while they upload).
            page.wait_for_selector("#token")
            first_shown.append(time.perf_counter() - started)
            if js:  # the script ends on the receipt page, which a reload or Back shows again
                page.wait_for_url(re.compile(r"/en/receipt$"))
                page.wait_for_load_state("load")
                page.wait_for_selector("#token")

        steps.append(measure(page, meter, "send -> token shown", send))
        token = page.inner_text("#token").strip()
        if not TOKEN.match(token):
            raise RuntimeError(f"no token on the receipt: {token!r}")

        def keep_it() -> None:
            page.check("#add-details input[name=kept]")
            if not js:
                page.wait_for_timeout(NO_JS_FORM_SECONDS * 1000)  # the form's proof-of-work is paid by waiting

        steps.append(measure(page, meter, "  (ticking 'I have kept my token', not timed)", keep_it, timed=False))

        def open_case() -> None:
            # The receipt goes on with the token (masked in its form): no look-up page, no typing.
            page.click("#add-details button:not([formaction])")
            page.wait_for_selector("#follow-up")
            page.wait_for_load_state("load")

        steps.append(measure(page, meter, "open the case with the token", open_case))
        return steps, (first_shown[0] if js else None)
    finally:
        context.close()


def print_flow(title: str, steps: list[Step], first_shown: float | None) -> float:
    print(f"\n{title}")
    print(
        f"  {'step':<30} {'seconds':>8} {'requests':>8} {'trips':>5} {'up B':>7} {'down B':>7}"
        f" {'limit s':>8} {'over s':>7} {'x limit':>7}"
    )
    for s in steps:
        if s.seconds is None:
            print(f"  {s.label:<30} {'-':>8} {s.requests:>8} {s.trips:>5} {s.up:>7} {s.down:>7} {s.limit:>8.2f}")
            continue
        over, ratio = s.seconds - s.limit, s.seconds / s.limit if s.limit else 0.0
        print(
            f"  {s.label:<30} {s.seconds:>8.2f} {s.requests:>8} {s.trips:>5} {s.up:>7} {s.down:>7}"
            f" {s.limit:>8.2f} {over:>+7.2f} {ratio:>7.2f}"
        )
        for line in s.detail:
            print(f"      {line}")
    timed = [s for s in steps if s.seconds is not None]
    seconds = sum(s.seconds or 0.0 for s in timed)
    limit = sum(s.limit for s in timed)
    requests, trips = sum(s.requests for s in timed), sum(s.trips for s in timed)
    up, down = sum(s.up for s in timed), sum(s.down for s in timed)
    print(
        f"  {'total (timed steps)':<30} {seconds:>8.2f} {requests:>8} {trips:>5} {up:>7} {down:>7}"
        f" {limit:>8.2f} {seconds - limit:>+7.2f} {seconds / limit:>7.2f}"
    )
    if first_shown is not None:
        print(f"  (the token was first shown {first_shown:.2f} s into the send step)")
    verdict = "PASS" if seconds <= FLOW_BUDGET_SECONDS else "FAIL"
    print(f"  budget {FLOW_BUDGET_SECONDS:.0f} s: {verdict} ({seconds:.2f} s)")
    return seconds


def a_token(browser: Browser, base: str) -> str:
    """A case to open on the status page, filed through the form like any other (fast link)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/en/", wait_until="load")
        fill_quick_report(page)
        page.click(send_button(page))
        page.wait_for_url(re.compile(r"/en/receipt$"), timeout=STEP_TIMEOUT_MS)
        return page.inner_text("#token").strip()
    finally:
        context.close()


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    started = time.perf_counter()
    with served() as base:
        print(f"Intake under gunicorn (deploy/gunicorn_intake.py), SQLite, argon2id production, serving {base}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                print("\n== Page weight: first load, fresh context, no cache, JavaScript on ==")
                print("Bytes Chromium received from the server as shipped (headers + body, Brotli by the app),")
                print("from the DevTools protocol's encodedDataLength, every request of the load counted.")
                print(f"  {'page':<22} {'requests':>8} {'wire B':>8}")
                token = a_token(browser, base)
                passed = []
                for lang in WEIGHT_LANGUAGES:
                    url = f"{base}/{lang}"
                    passed.append(print_weight(f"/{lang}/ (form)", first_load(browser, url + "/"), FORM_BUDGET))
                    passed.append(print_weight(f"/{lang}/status", first_load(browser, url + "/status"), STATUS_BUDGET))
                    opened = first_load(browser, url + "/status", token)
                    passed.append(print_weight(f"/{lang}/status + token", opened, STATUS_BUDGET))

                print(
                    f"\n== Quick report on a GPRS link: {LATENCY_MS} ms latency, {DOWN_BPS // 1000} kbit/s down, "
                    f"{UP_BPS // 1000} kbit/s up, cache disabled =="
                )
                print("Answers: danger, what_happened, consent_act only. Typing is not timed, nor is the")
                print("no-JavaScript wait before a form may be sent (2.1 s). Bytes are all the step made the link")
                print("carry, headers included. trips = sequential round trips (requests that could not overlap).")
                print(FORMULA)
                print("over s = seconds - limit; x limit = seconds / limit.")
                on = print_flow("JavaScript on (sealed in the browser)", *run_flow(browser, base, js=True))
                off = print_flow("JavaScript off (sealed on the server)", *run_flow(browser, base, js=False))
            finally:
                browser.close()
    verdict = "PASS" if all(passed) else "FAIL"
    print(f"\nPage weight budgets: {verdict}.  Flow: {on:.1f} s with JavaScript, {off:.1f} s without")
    print(f"(budget {FLOW_BUDGET_SECONDS:.0f} s).  Benchmark took {time.perf_counter() - started:.0f} s.")
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
