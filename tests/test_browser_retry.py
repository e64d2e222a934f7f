"""The browser honours 503 + Retry-After: it tells the reporter, waits, and resends by itself
(the report with the same nonce, a chunk where it stopped), so overload loses nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from cases.blobs import FilesystemBlobStore

from .conftest import Installed
from .live import Live, open_page
from .reporter_helpers import document, only_case, read_case
from .test_reporter_browser import fill_report

pytestmark = pytest.mark.slow
BUSY: dict[str, Any] = {"status": 503, "headers": {"Retry-After": "1"}, "content_type": "application/json"}


def test_busy_answers_are_waited_out_and_resent(browser: Browser, live: Live, installed: Installed) -> None:
    page = open_page(browser, live, js=True)
    refused: list[str] = []

    def busy_once(route: Route) -> None:
        request = route.request
        first_report = request.url.endswith("/api/report") and "report" not in refused
        first_chunk = request.method == "PUT" and request.url.endswith("/1") and "chunk" not in refused
        if first_report or first_chunk:
            refused.append("report" if first_report else "chunk")
            route.fulfill(**BUSY, body=json.dumps({"error": "busy"}))
        else:
            route.continue_()

    page.route("**/api/**", busy_once)
    fill_report(page, live, files=False)
    page.set_input_files("#f-files", [{"name": "long.txt", "mimeType": "text/plain", "buffer": document(300_000)}])
    page.click("#send")
    page.wait_for_selector("#progress:has-text('will be sent again by itself')", timeout=10_000)
    page.wait_for_selector("#token", timeout=30_000)
    page.wait_for_selector("#progress:has-text('All files were sent')", timeout=30_000)
    assert refused == ["report", "chunk"]
    assert page.js_errors == []
    case = only_case(live.database)
    _, files = read_case(live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir))
    assert files == [("long.txt", document(300_000))]
