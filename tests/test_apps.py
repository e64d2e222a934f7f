"""Both app shells: health pages and the security headers every response must carry."""

from __future__ import annotations

import base64
import re

import pytest

import intake
from cases.intake_keys import current
from crypto.keys import fingerprint


def _assert_strict(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/health", "/intake-key", "/static/seal.js", "/static/app.js", "/no-such-page"])
def test_intake_responses_are_strict_and_set_no_cookie(intake_client, path) -> None:
    response = intake_client.get(path)
    _assert_strict(response)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/", "/fr/", "/ar/status", "/en/safety"])
def test_intake_pages_set_only_a_browser_session_csrf_cookie(intake_client, path) -> None:
    response = intake_client.get(path)
    assert response.status_code == 200
    _assert_strict(response)
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) <= 1
    for cookie in cookies:
        name, _, attributes = cookie.partition("=")
        assert name == "csrf"
        assert "HttpOnly" in attributes and "SameSite=Strict" in attributes
        # Nothing of the visit outlives the browser; the time limit is inside the signed token.
        assert "Expires=" not in attributes and "Max-Age=" not in attributes


@pytest.mark.parametrize("path", ["/", "/health", "/no-such-page"])
def test_caseworker_responses_are_strict(desk_app, path) -> None:
    _assert_strict(desk_app.test_client().get(path))  # not logged in


def test_intake_health_shows_the_key_people_can_compare(intake_client, database) -> None:
    body = intake_client.get("/health").get_json()
    with database.session() as session:
        key = current(session)
        assert body == {
            "status": "ok",
            "app": "intake",
            "intake_key": key.id,
            "fingerprint": fingerprint(key.public_key),
        }


def test_intake_key_endpoint_serves_the_current_public_key(intake_client, database) -> None:
    body = intake_client.get("/intake-key").get_json()
    raw = base64.urlsafe_b64decode(body["public_key"] + "=" * (-len(body["public_key"]) % 4))
    with database.session() as session:
        assert raw == current(session).public_key and len(raw) == 65


def test_uninitialised_intake_says_so(settings, database) -> None:
    response = intake.create_app(settings, database).test_client().get("/health")
    assert response.status_code == 503 and response.get_json()["status"] == "not initialised"


def test_caseworker_health(desk_app) -> None:
    assert desk_app.test_client().get("/health").get_json() == {"status": "ok", "app": "caseworker"}, (
        "no count for anonymous callers"
    )


def test_intake_page_loads_nothing_from_elsewhere(intake_client) -> None:
    html = intake_client.get("/").get_data(as_text=True)
    loads = re.findall(r'<(?:script|link|img|iframe|source|video|audio)\b[^>]*(?:src|href)="([^"]+)"', html)
    assert all((url.startswith("/") and not url.startswith("//")) or url == "data:," for url in loads)
    # Inline blocks only as the CSP allows them by hash (tests/test_wire.py); no style attributes.
    assert " style=" not in html and "<script>" not in html
