"""A page that shows a secret in clear (the receipt's token) is compressed with the secret in a
stored block nothing refers to: its length must not depend on the secret, even when the page also
holds an attacker's guess of it (BREACH)."""

from __future__ import annotations

import gzip
import secrets

import pytest
from flask import Flask, render_template_string

from web import compress


def _page(guess: bytes, secret: bytes) -> list[tuple[bytes, bool]]:
    head = b"<!doctype html><style>body{font:1rem sans-serif}</style><p>You typed " + guess + b"</p><p>Token: "
    return [(head, False), (secret, True), (b"</p><p>Again: " + guess + b"</p>" + b"<p>filler text</p>" * 20, False)]


def _digits() -> bytes:
    return " ".join("".join(secrets.choice("0123456789") for _ in range(4)) for _ in range(5)).encode()


def test_round_trip() -> None:
    pieces = _page(b"hello", _digits())
    assert gzip.decompress(compress.gzip_keeping(pieces)) == b"".join(d for d, _ in pieces)


def test_length_does_not_depend_on_the_secret_even_beside_a_matching_guess() -> None:
    guess = _digits()
    lengths = {len(compress.gzip_keeping(_page(guess, _digits()))) for _ in range(30)}
    lengths.add(len(compress.gzip_keeping(_page(guess, guess))))  # the guess is right
    assert len(lengths) == 1
    # Whereas plain gzip of the same page is shorter when the guess matches: the test can fail.
    right = len(gzip.compress(b"".join(d for d, _ in _page(guess, guess))))
    wrong = [len(gzip.compress(b"".join(d for d, _ in _page(guess, _digits())))) for _ in range(10)]
    assert right < min(wrong)


def test_secret_bytes_appear_verbatim_and_once() -> None:
    secret = _digits()
    packed = compress.gzip_keeping(_page(b"x", secret))
    assert packed.count(secret) == 1


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.add_template_filter(compress.keep_stored, "stored")
    compress.install(app)

    @app.post("/r")
    def page() -> str:
        compress.allow_post()
        from flask import g

        g.csrf_valid = True
        return render_template_string("<p>{{ 'lead text ' * 80 }}</p><p>{{ token|stored }}</p>", token="1234 5678")

    return app


def test_marks_never_leave_and_br_falls_back_to_gzip(app: Flask) -> None:
    client = app.test_client()
    plain = client.post("/r", headers={"Accept-Encoding": "identity"})
    assert b"\0" not in plain.data and b"<p>1234 5678</p>" in plain.data
    packed = client.post("/r", headers={"Accept-Encoding": "br, gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    only_br = client.post("/r", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in only_br.headers and only_br.data == plain.data
