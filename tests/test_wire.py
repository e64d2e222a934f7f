"""Issue 9: every reporter page is one response, compressed by the app, within its byte budget.

The budgets are measured as Chromium receives them (headers and body as shipped, from the
DevTools protocol's ``encodedDataLength``), not as a gzip of the bodies.
"""

from __future__ import annotations

import base64
import gzip
import re
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import brotli
import pytest
from flask import Flask, g, request

from cases import tokens
from intake import csrf
from intake.i18n import LANGUAGES
from intake.inline import STATIC, Inline, csp_hash
from web import compress

from .cli_helpers import init
from .factories import file_case
from .live import open_page
from .production import Server, gunicorn_app
from .reporter_helpers import PageFields

FORM_BUDGET = 15 * 1024
STATUS_BUDGET = 10 * 1024
GZIP = {"Accept-Encoding": "gzip, deflate"}  # what a browser without Brotli offers
BROTLI = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium offers
CANARY = "BREACH-canary-7f3e"


def _html(response: Any) -> str:
    data = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    elif response.headers.get("Content-Encoding") == "br":
        data = brotli.decompress(data)
    return str(data.decode("utf-8"))


def _inline_blocks(html: str) -> tuple[list[str], list[str]]:
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL)
    styles = re.findall(r"<style\b[^>]*>(.*?)</style>", html, re.DOTALL)
    return scripts, styles


def _sources(csp: str, directive: str) -> list[str]:
    for part in csp.split(";"):
        name, *values = part.split()
        if name == directive:
            return values
    raise AssertionError(f"no {directive} in {csp}")


# -- one response per page, allowed by hash ----------------------------------------------------


def test_the_form_carries_its_style_and_scripts_and_loads_nothing(intake_client) -> None:
    response = intake_client.get("/en/")
    html = _html(response)
    # The icon is empty and inline, so the browser does not ask for /favicon.ico either.
    assert not re.search(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)=(?!\"data:,\")", html), "loads a file"
    # Only the scripts imported when first needed (intake.inline) come from /static/.
    assert set(re.findall(r"/static/[\w.]+", html)) == {"/static/seal.js", "/static/strip.js", "/static/voice.js"}


@pytest.mark.parametrize("path", ["/en/", "/ar/", "/zh/status", "/ru/safety", "/fr/no-such-page"])
def test_the_csp_allows_exactly_the_inlined_blocks(intake_client, path: str) -> None:
    response = intake_client.get(path, headers=GZIP)
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe" not in csp
    scripts, styles = _inline_blocks(_html(response))
    assert len(scripts) == 1 and len(styles) == 1
    imports = ["'self'"] if "loadSeal" in scripts[0] else []  # pages that seal import seal.js
    assert _sources(csp, "script-src") == [csp_hash(scripts[0]), *imports], "this block and nothing else"
    assert _sources(csp, "style-src") == [csp_hash(styles[0])]


def test_json_and_static_answers_allow_no_inline_block(intake_client) -> None:
    health = intake_client.get("/health").headers["Content-Security-Policy"]
    assert _sources(health, "script-src") == ["'none'"] and _sources(health, "style-src") == ["'none'"]
    static = intake_client.get("/static/seal.js")
    assert _sources(static.headers["Content-Security-Policy"], "script-src") == ["'self'"]
    assert static.get_data() == (STATIC / "seal.js").read_bytes(), "/static/ serves the file itself"


def test_pages_that_seal_import_the_very_files_and_others_do_not(intake_client) -> None:
    form_script = _inline_blocks(_html(intake_client.get("/en/")))[0][0]
    assert "import('/static/seal.js')" in form_script and "import('/static/strip.js')" in form_script
    light = _inline_blocks(_html(intake_client.get("/en/safety")))[0][0]
    assert "/static/" not in light and "leave.addEventListener" in light
    for name in ("seal.js", "strip.js"):
        served = intake_client.get(f"/static/{name}", headers=GZIP)
        assert served.headers["Content-Encoding"] == "gzip", "our own files hold no secret: compressed"
        assert gzip.decompress(served.get_data()) == (STATIC / name).read_bytes()


@pytest.mark.slow
def test_the_form_loads_the_seal_while_the_reporter_types(browser, live) -> None:
    """Not on the first load (the budget), but at the first keystroke, long before Send."""
    page = open_page(browser, live, js=True)
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    try:
        page.goto(live.url + "/en/")
        page.wait_for_load_state("networkidle")
        assert not any("/static/" in url for url in loaded)
        page.type("#f-what_happened", "They came at night.")
        page.wait_for_function("() => true")
        page.wait_for_timeout(500)
        assert live.url + "/static/seal.js" in loaded
        assert not page.js_errors
    finally:
        page.context.close()


def test_the_blocks_and_policies_are_built_once_at_start_up(intake_app, monkeypatch) -> None:
    calls: list[str] = []
    real = csp_hash

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr("intake.inline.csp_hash", counting)
    client = intake_app.test_client()
    for path in ("/en/", "/en/status", "/en/safety"):
        client.get(path)
    assert calls == []
    assert Inline.load().scripts["full"].hash == real(Inline.load().scripts["full"].text)


# -- compression -------------------------------------------------------------------------------


def test_brotli_when_offered_and_smaller_than_gzip(intake_client) -> None:
    packed = intake_client.get("/ru/", headers=BROTLI)
    zipped = intake_client.get("/ru/", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "br" and "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.get_data()) < len(zipped.get_data())
    assert "<main" in _html(packed)
    assert intake_client.get("/ru/", headers={"Accept-Encoding": "br;q=0, gzip"}).headers["Content-Encoding"] == "gzip"


def test_pages_are_gzipped_when_the_browser_accepts_it(intake_client) -> None:
    plain = intake_client.get("/en/")
    packed = intake_client.get("/en/", headers=GZIP)
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.get_data())
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    strip_tokens = re.compile(r'(value|data-challenge)="[^"]*"')
    assert strip_tokens.sub("", _html(packed)) == strip_tokens.sub("", _html(plain))


@pytest.mark.parametrize("encoding", ["gzip;q=0", "identity", "br;q=0, gzip;q=0", ""])
def test_nothing_compressed_unless_accepted(intake_client, encoding: str) -> None:
    response = intake_client.get("/en/", headers={"Accept-Encoding": encoding})
    assert "Content-Encoding" not in response.headers
    assert "<form" in response.get_data(as_text=True)


def test_small_answers_and_files_stay_as_they_are(intake_client) -> None:
    assert "Content-Encoding" not in intake_client.get("/health", headers=GZIP).headers  # too small
    assert "Content-Encoding" not in intake_client.get("/favicon.ico", headers=GZIP).headers
    head = intake_client.head("/en/", headers=GZIP)
    assert head.headers["Content-Encoding"] == "gzip" and int(head.headers["Content-Length"]) > 0


# -- BREACH: no compressed answer holds a secret next to text someone else chose ------------------


def test_get_pages_reflect_nothing_of_the_request(intake_client) -> None:
    """A compressed page must not carry attacker-chosen text beside its CSRF token."""
    for path in ("/en/", "/en/status", "/en/safety", "/en/no-such-page", "/"):
        response = intake_client.get(f"{path}?token={CANARY}&q={CANARY}", headers=GZIP)
        assert CANARY not in _html(response), path
    assert CANARY not in _html(intake_client.get(f"/en/{CANARY}", headers=GZIP))


def test_the_csrf_token_is_masked_afresh_on_every_page(intake_client) -> None:
    """Flask-WTF signs the same session value on every page of a session: sent as it is, its bytes
    would repeat from answer to answer. Masked, no two answers share them, and both still work."""
    first = PageFields.of(_html(intake_client.get("/en/"))).csrf
    second = PageFields.of(_html(intake_client.get("/en/status"))).csrf
    assert "." not in first and first[:16] != second[:16]
    raw_first, raw_second = csrf.unmask(first), csrf.unmask(second)
    assert raw_first and raw_second and raw_first.split(".")[0] == raw_second.split(".")[0]
    assert raw_first.split(".")[0] not in _html(intake_client.get("/en/", headers=BROTLI))


def test_answers_that_echo_what_was_sent_are_not_compressed(intake_client, forms_without_wait) -> None:
    fields = PageFields.of(_html(intake_client.get("/en/"))).no_js_form()
    refilled = intake_client.post(
        "/en/report", data={**fields, "nonce": "short", "what_happened": CANARY}, headers=GZIP
    )
    assert refilled.status_code == 400 and CANARY in refilled.get_data(as_text=True)  # answers kept
    assert "Content-Encoding" not in refilled.headers
    lookup = PageFields.of(_html(intake_client.get("/en/status"))).no_js_form()
    typo = intake_client.post("/en/status", data={**lookup, "token": CANARY}, headers=GZIP)
    assert typo.status_code == 400 and "Content-Encoding" not in typo.headers


def _file_a_report(client) -> str:
    """A no-JavaScript report's token (the receipt, which shows it in clear, is not compressed)."""
    fields = PageFields.of(_html(client.get("/en/"))).no_js_form()
    receipt = client.post("/en/report", data={**fields, "what_happened": CANARY}, headers=BROTLI)
    html = _html(receipt)
    found = re.search(r'id="token"[^>]*>(.*?)</p>', html, re.S)
    # The receipt shows its token in clear: gzip with the token in a stored block, never Brotli.
    assert receipt.status_code == 200 and found and receipt.headers["Content-Encoding"] == "gzip"
    token = re.sub(r"\D", "", found.group(1))
    assert "\0" not in html and token not in _hidden_tokens(html)
    return token


def _status(client, token: str, headers: dict[str, str] = BROTLI, **fields: str) -> Any:
    lookup = PageFields.of(_html(client.get("/en/status"))).no_js_form()
    return client.post("/en/status", data={**lookup, "token": token, **fields}, headers=headers)


def _hidden_tokens(html: str) -> list[str]:
    return re.findall(r'name="token" value="([^"]*)"', html)


def test_the_status_page_is_compressed_with_its_secrets_masked(intake_client, forms_without_wait) -> None:
    token = _file_a_report(intake_client)
    first, second = _status(intake_client, token), _status(intake_client, token)
    for page in (first, second):
        assert page.status_code == 200 and page.headers["Content-Encoding"] == "br"
        html = _html(page)
        assert 'id="follow-up"' in html and CANARY not in html
        assert token not in html and tokens.format_token(token) not in html, "the token verbatim"
        assert len(_hidden_tokens(html)) == 4 and all(csrf.unmask_token(t) == token for t in _hidden_tokens(html))
        raw_csrf = csrf.unmask(PageFields.of(html).csrf)
        assert raw_csrf and raw_csrf not in html, "the CSRF token verbatim"
    # Two answers, and the four forms of one answer, mask differently: nothing repeats.
    masks = _hidden_tokens(_html(first)) + _hidden_tokens(_html(second))
    assert len(set(masks)) == len(masks) == 8
    assert PageFields.of(_html(first)).csrf != PageFields.of(_html(second)).csrf


def test_a_masked_token_posted_back_opens_the_case(intake_client, forms_without_wait) -> None:
    token = _file_a_report(intake_client)
    masked = _hidden_tokens(_html(_status(intake_client, token)))[1]  # the refresh form's
    again = _status(intake_client, masked)
    assert again.status_code == 200 and "Where it is now" in _html(again)


PLAIN_REFUSALS = (
    "A token has 20 digits, in five groups of four.",
    "This number has a typo. Please check each digit.",
    "No report matches this token. Please check it, or it may have been deleted.",
)


def test_a_tampered_mask_is_refused_with_a_plain_message(intake_client, forms_without_wait) -> None:
    token = _file_a_report(intake_client)
    masked = _hidden_tokens(_html(_status(intake_client, token)))[1]
    data = bytearray(base64.urlsafe_b64decode(masked + "=="))
    data[20] = data[0] ^ ord("x")  # unmasks to "x" and 19 digits: not a token
    letter = base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()
    for bad in (letter, masked[:-1] + "*"):
        refused = _status(intake_client, bad)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400 and "Content-Encoding" not in refused.headers
        assert PLAIN_REFUSALS[0] in html and "Traceback" not in html
        assert masked not in html and token not in html
    flipped = masked[:30] + ("A" if masked[30] != "A" else "B") + masked[31:]
    for bad in (flipped, masked[::-1]):  # whatever they unmask to, never the case, always a plain word
        refused = _status(intake_client, bad)
        html = refused.get_data(as_text=True)
        assert refused.status_code in (400, 404) and "Content-Encoding" not in refused.headers
        assert any(message in html for message in PLAIN_REFUSALS) and "Where it is now" not in html


def test_a_failed_csrf_check_is_never_compressed(intake_client, forms_without_wait) -> None:
    token = _file_a_report(intake_client)
    page = _html(_status(intake_client, token))
    forged = csrf.mask("forged." + "x" * 40)
    for bad in (forged, PageFields.of(page).csrf[:-2] + "xx", ""):
        refused = _status(intake_client, token, csrf=bad)
        assert refused.status_code == 400 and "Content-Encoding" not in refused.headers
        assert "Where it is now" not in refused.get_data(as_text=True)


def test_a_post_is_compressed_only_after_the_csrf_check_passed() -> None:
    """web.compress on its own: a view asking to compress is not enough without Flask-WTF's mark."""
    app = Flask(__name__)
    compress.install(app)
    page = "<p>" + "masked " * 200 + "</p>"

    @app.post("/asks")
    def asks() -> str:
        compress.allow_post()
        if request.args.get("checked"):
            g.csrf_valid = True
        return page

    @app.post("/checked")
    def checked() -> str:
        g.csrf_valid = True
        return page

    client = app.test_client()
    assert "Content-Encoding" not in client.post("/asks", headers=BROTLI).headers
    assert "Content-Encoding" not in client.post("/checked", headers=BROTLI).headers
    assert client.post("/asks?checked=1", headers=BROTLI).headers["Content-Encoding"] == "br"


def test_the_receipt_is_gzip_with_its_token_stored_in_clear(intake_client, forms_without_wait) -> None:
    fields = PageFields.of(_html(intake_client.get("/en/"))).no_js_form()
    receipt = intake_client.post("/en/report", data={**fields, "what_happened": "x"}, headers=BROTLI)
    assert receipt.headers["Content-Encoding"] == "gzip", "Brotli offers no stored blocks"
    shown = re.search(r'id="token" dir="ltr">(.*?)</p>', _html(receipt))
    assert shown is not None
    # The token as the page shows it travels verbatim, in a stored block (web.compress.gzip_keeping).
    assert shown.group(1).encode() in receipt.get_data()


# -- bytes on the wire, as Chromium receives them -----------------------------------------------


def wire_bytes(browser: Any, url: str, js: bool = True) -> tuple[int, list[str]]:
    """Bytes Chromium received (headers and body as shipped, every request of the load, in a fresh
    context so nothing cached) and the URLs it asked for."""
    context = browser.new_context(java_script_enabled=js)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        urls: list[str] = []
        received: list[int] = []
        cdp.on("Network.requestWillBeSent", lambda event: urls.append(event["request"]["url"]))
        cdp.on("Network.loadingFinished", lambda event: received.append(int(event["encodedDataLength"])))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200
        assert response.headers.get("content-encoding") == "br", "Chromium offers Brotli; the app uses it"
        page.wait_for_timeout(300)  # a late request (favicon) would still be counted
        return sum(received), urls
    finally:
        context.close()


@pytest.mark.slow
def test_first_loads_fit_their_budgets_in_every_language(browser, live) -> None:
    figures = {}
    for lang in LANGUAGES:
        for path, budget in ((f"/{lang}/", FORM_BUDGET), (f"/{lang}/status", STATUS_BUDGET)):
            size, urls = wire_bytes(browser, live.url + path)
            assert [u for u in urls if not u.endswith("/favicon.ico")] == [live.url + path], "one request"
            figures[path] = (size, budget)
    over = {path: size for path, (size, budget) in figures.items() if size > budget}
    assert over == {}, f"over budget: {over} (all: {figures})"


@pytest.mark.slow
def test_the_inlined_scripts_run_under_the_policy(browser, live) -> None:
    """JS on: no CSP refusal, app.js is alive (proof-of-work fills the solution); JS off: same page."""
    page = open_page(browser, live, js=True)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    try:
        page.goto(live.url + "/fr/status")
        page.fill("#token", "1234 5678 9012 3456 7890")
        page.click("form.pow button")
        page.wait_for_load_state()
        assert "1234" not in page.url
        assert not page.js_errors and not refused, (page.js_errors, refused)
    finally:
        page.context.close()
    assert wire_bytes(browser, live.url + "/ar/", js=False)[0] <= FORM_BUDGET


# -- gunicorn with the deploy settings: compressed answers over real, and cut, connections --------


@pytest.fixture
def gunicorn(env: dict[str, str]) -> Iterator[Server]:
    pytest.importorskip("gunicorn")
    init(env)
    with gunicorn_app("intake", env, RRI_INTAKE_WORKERS="2") as server:
        yield server
    assert "Traceback" not in server.log(), server.log()


def _raw_get(port: int, path: str, read: int | None = None) -> tuple[bytes, bytes]:
    """GET over a raw socket with Accept-Encoding: gzip; ``read`` bytes then a reset, or all."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        data = b""
        while read is None or len(data) < read:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        if read is not None:
            import struct

            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.slow
def test_gzip_under_gunicorn_survives_cut_connections(gunicorn: Server) -> None:
    for _ in range(6):  # readers that hang up mid-answer, on both workers
        _raw_get(gunicorn.port, "/ar/", read=700)
    time.sleep(0.3)
    head, body = _raw_get(gunicorn.port, "/ar/")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    assert head.startswith(b"HTTP/1.1 200") and headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(body) <= FORM_BUDGET
    assert zlib.decompress(body, wbits=31).decode().count("<main") == 1


def status_wire_bytes(browser: Any, base: str, lang: str, token: str, js: bool) -> int:
    """Bytes Chromium received for POST /<lang>/status with ``token`` typed in (headers and body as
    shipped); checks the answer is Brotli and holds the token nowhere verbatim."""
    context = browser.new_context(java_script_enabled=js)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        posts: dict[str, str] = {}
        received: dict[str, int] = {}

        def sent(event: dict[str, Any]) -> None:
            if event["request"]["method"] == "POST":
                posts[event["requestId"]] = event["request"]["url"]

        cdp.on("Network.requestWillBeSent", sent)
        cdp.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        page.goto(f"{base}/{lang}/status")
        page.fill("#token", tokens.format_token(token))
        if not js:
            page.wait_for_timeout(2100)
        with page.expect_navigation() as navigation:
            page.click("form.pow button")
        answer = navigation.value
        assert answer is not None and answer.status == 200 and answer.headers.get("content-encoding") == "br"
        page.wait_for_selector("#follow-up")
        body = answer.body().decode()
        assert token not in body and tokens.format_token(token) not in body
        page.wait_for_timeout(200)
        [request_id] = [rid for rid, url in posts.items() if url == f"{base}/{lang}/status"]
        return received[request_id]
    finally:
        context.close()


@pytest.mark.slow
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_status_page_fits_its_budget_in_every_language(browser, live, js: bool) -> None:
    """POST /<lang>/status with the token, as Chromium receives it: compressed, under 10 KB, and the
    token it shows nowhere in the body verbatim (the hidden fields carry it masked)."""
    token = file_case(live.database, answers={"what_happened": "x"}, settings=live.settings).token
    assert token
    figures = {lang: status_wire_bytes(browser, live.url, lang, token, js) for lang in LANGUAGES}
    print("status page on the wire:", figures)
    assert all(size <= STATUS_BUDGET for size in figures.values()), figures


def test_masking_round_trips_and_leaves_typed_tokens_alone() -> None:
    secret = "12345678901234567890"
    first, second = csrf.mask(secret), csrf.mask(secret)
    assert first != second and len(first) == csrf.MASKED_TOKEN_LENGTH
    assert csrf.unmask(first) == csrf.unmask(second) == secret
    assert csrf.unmask_token(first) == secret
    arabic = "١٢٣٤ ٥٦٧٨-9012 3456 7890"  # a token as typed, in Arabic-Indic digits: masked as ASCII digits
    assert csrf.unmask_token(csrf.mask_token(arabic)) == "12345678901234567890"
    for typed in ("1234 5678 9012 3456 7890", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠", "1" * csrf.MASKED_TOKEN_LENGTH, ""):
        assert csrf.unmask_token(typed) == typed, "what a person types is taken as typed"
    assert csrf.unmask_token(csrf.mask("not-digits-but-20-ch")) is None


def test_a_raw_csrf_token_still_passes_and_a_forged_mask_does_not(intake_client, forms_without_wait) -> None:
    """Flask-WTF's own format (with dots) is checked as it is; a masked value is unmasked first."""
    token = _file_a_report(intake_client)
    masked = PageFields.of(_html(intake_client.get("/en/status"))).csrf
    raw = csrf.unmask(masked)
    assert raw and "." in raw
    assert _status(intake_client, token, csrf=raw).status_code == 200
    assert _status(intake_client, token, csrf=csrf.mask(raw)).status_code == 200
    assert _status(intake_client, token, csrf=csrf.mask(raw[:-1] + "A")).status_code == 400
