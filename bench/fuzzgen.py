"""Hostile requests for every route of both apps.

Shared by ``bench/fuzz.py`` (real gunicorn, real sockets) and ``tests/fuzzing.py`` (the Flask test
client). It lives outside ``tests/`` because benches do not import tests; it never imports either
app: it speaks to them through a ``protocol_client.Transport`` alone, so the same requests reach
both servers.

The generator is deterministic for a seed. It aims at parsing, not at strings: malformed and
hostile JSON (deep nesting, 1e999, 10**400, wrong types, lone surrogates, duplicate keys), wrong
content types, missing, duplicated and oversized fields, non-ASCII and non-string CSRF values
(and sometimes the valid one, so the request reaches the view), negative and huge indices, bad
base64, odd methods, NUL and control bytes in path segments and queries, Unicode digits.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

from bench.protocol_client import Transport, b64, challenge_in, csrf_in, form_body, solve

ODD_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND")
CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "application/json",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",
    "text/plain",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded; charset=\u00ff",
    "\x7f/\x01",
    "",
)
# Members the JSON API and the pages use; anything else is noise the views must ignore.
JSON_MEMBERS = (
    "report",
    "files",
    "manifest",
    "chunks",
    "nonce",
    "csrf",
    "challenge",
    "solution",
    "token",
    "mine",
    "team",
    "urgent",
)
QUERY_NAMES = ("page", "next", "status", "urgent", "assignee", "unread", "act", "country", "un", "lang", "q")
HOSTILE_TEXT = (
    "",
    " ",
    "0",
    "-1",
    "1",
    "²",  # isdigit() but not int(): superscripts and circled digits
    "²³",
    "①",
    "١٢٣",
    "٣",
    "１２",
    "9" * 25,
    "-" + "9" * 25,
    "1e999",
    "NaN",
    "true",
    "null",
    "\x00",
    "a\x00b",
    "\r\n\t\x0b\x1b",
    "\u202e",
    "é" * 3,
    "<script>",
    "../../etc/passwd",
    "%00",
    "=",
    "!!!",
    "AAAAA",
    "____",
    "x" * 70,
    "x" * 5000,
)
# A werkzeug rule's parameter: <name>, <converter:name> or <converter(arguments):name>.
PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
# Raw bytes for form and path values: invalid UTF-8, a UTF-8-encoded lone surrogate, NUL.
HOSTILE_BYTES = (b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\x00", b"\xef\xbb\xbf", b"\xe2\x80\xae")


# -- what the pages tell us --------------------------------------------------------------------


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.choices: dict[str, list[str]] = {}
        self._select = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((found.get("method", "get").upper(), found.get("action", ""), []))
        elif tag == "option" and self._select:
            self.choices.setdefault(self._select, []).append(found.get("value", ""))
        elif tag in ("input", "select", "textarea", "button") and self.forms and found.get("name"):
            self.forms[-1][2].append((found["name"], found.get("value", "")))
            self._select = found["name"] if tag == "select" else ""


@dataclass
class Harvest:
    """Field names and honest values of every form seen, by action path; query names of GET forms."""

    fields: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    names: set[str] = field(default_factory=lambda: set(JSON_MEMBERS))
    query: set[str] = field(default_factory=lambda: set(QUERY_NAMES))
    queries: dict[str, set[str]] = field(default_factory=dict)  # the names a page's own GET forms send
    choices: dict[str, list[str]] = field(default_factory=dict)  # a select's option values

    def honest(self, rng: random.Random, name: str, shown: str) -> str:
        """A value the page itself could send for this field."""
        if self.choices.get(name):
            return rng.choice(self.choices[name])
        return shown or rng.choice(("", "fuzz 1"))

    def add_page(self, html: str, page_path: str) -> None:
        parser = _Forms()
        parser.feed(html)
        for name, values in parser.choices.items():
            self.choices[name] = sorted(set(self.choices.get(name, [])) | set(values))
        for method, action, fields in parser.forms:
            path = urlsplit(action).path or page_path
            if method == "GET":
                self.query.update(name for name, _v in fields)
                self.queries.setdefault(path, set()).update(name for name, _v in fields)
            else:
                self.fields.setdefault(path, []).extend(f for f in fields if f not in self.fields.get(path, []))
            self.names.update(name for name, _v in fields)


# -- routes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    app: str  # "intake" or "desk"
    rule: str  # werkzeug rule, e.g. /cases/<case_id>/files/<attachment_id>
    method: str
    params: tuple[tuple[str, str], ...]  # (name, converter) in rule order

    @property
    def name(self) -> str:
        return f"{self.app} {self.method} {self.rule}"


def routes_of(app_name: str, rules: Iterable[tuple[str, Iterable[str]]]) -> list[Route]:
    """Every (rule, method) of an app, from its url_map as ``(rule.rule, rule.methods)`` pairs."""
    found = []
    for rule, methods in rules:
        params = tuple((m.group(2), m.group(1) or "default") for m in PARAMETER.finditer(rule))
        for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
            found.append(Route(app_name, rule, method, params))
    return sorted(found, key=lambda r: (r.app, r.rule, r.method))


class Live(Protocol):
    """What only a running app can tell: a valid CSRF value for this client, a fresh challenge
    with its solution, a token that opens the existing case, a live upload secret."""

    def csrf(self, app: str) -> str: ...

    def work(self) -> tuple[str, str]: ...

    token: str
    upload_secret: str


@dataclass
class Targets:
    """Real values for path parameters, so requests reach the views, not only the 404s."""

    real: dict[str, str]  # parameter name -> a real value (case_id, attachment_id, worker_id, ...)
    own_id: int  # the logged-in admin: never disabled or reset, or the rest would run logged out
    static: dict[str, str]  # app -> a real static file name
    langs: tuple[str, ...] = ("en", "fr", "ar")


@dataclass
class FuzzRequest:
    method: str
    path: str  # percent-encoded, ready for the wire
    headers: dict[str, str]
    body: bytes
    what: str  # a short description for failure reports

    def describe(self) -> str:
        body = self.body[:160]
        return f"{self.method} {self.path[:200]} [{self.what}] headers={self.headers} body={body!r}"


# -- the generator -------------------------------------------------------------------------------


def _hostile_text(rng: random.Random) -> str:
    return rng.choice(HOSTILE_TEXT)


def _encode_value(rng: random.Random, value: str) -> str:
    """Percent-encode a value, sometimes splicing in raw invalid UTF-8 or a NUL."""
    encoded = quote(value, safe="")
    if rng.random() < 0.15:
        encoded += quote(rng.choice(HOSTILE_BYTES), safe="")
    return encoded


def _path_value(rng: random.Random, name: str, converter: str, targets: Targets, route: Route) -> str:
    value = _any_path_value(rng, name, converter, targets, route)
    if name == "worker_id" and _as_int(unquote(value)) == targets.own_id:
        return quote(targets.real[name], safe="")
    return value


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _any_path_value(rng: random.Random, name: str, converter: str, targets: Targets, route: Route) -> str:
    if name == "lang":
        return rng.choice(targets.langs) if rng.random() < 0.85 else _encode_value(rng, _hostile_text(rng))
    if name == "filename":
        real = targets.static.get(route.app, "x")
        return rng.choice((real, real, "..%2f..%2fsecret", "%00", real + "%00.js", "a%0a"))
    real = targets.real.get(name, "1")
    roll = rng.random()
    if roll < 0.5:
        return quote(real, safe="")
    if converter == "int":  # what reaches the int converter: digits, large or small
        return quote(rng.choice(("0", "1", "-1", "9" * 19, "9" * 25, "9223372036854775808", "²", "00001")))
    if roll < 0.6:
        return quote(real, safe="") + rng.choice(("%00", "%0a", "%ff", "x", "%ed%a0%80"))
    return _encode_value(rng, _hostile_text(rng)) or "%20"


def _json_value(rng: random.Random, depth: int = 0) -> str:
    """A hostile JSON value as text (so duplicate keys, 1e999 and lone surrogates survive)."""
    choice = rng.randrange(14)
    if choice == 0:
        n = rng.choice((64, 1_000, 100_000))
        return "[" * n + "]" * n
    if choice == 1:
        return rng.choice(("1e999", "-1e999", str(10**400), "NaN", "Infinity", "-0", "1.5", "9007199254740993"))
    if choice == 2:
        return rng.choice(('"\\ud800"', '"\\udfff x"', '"\\u0000"', '"\\ud83d\\ude00"'))
    if choice == 3:
        return rng.choice(("true", "false", "null", "0", "-1", "[]", "{}"))
    if choice == 4:
        return '{"a": 1, "a": 2}'
    if choice == 5:
        return json.dumps("A" * rng.choice((1, 1_000, 300_000)))
    if choice == 6 and depth < 2:
        return "[" + ",".join(_json_value(rng, depth + 1) for _ in range(rng.randrange(4))) + "]"
    if choice == 7 and depth < 2:
        members = [f'"{rng.choice(JSON_MEMBERS)}": {_json_value(rng, depth + 1)}' for _ in range(rng.randrange(4))]
        return "{" + ",".join(members) + "}"
    if choice == 8:
        return json.dumps(b64(rng.randbytes(rng.choice((0, 1, 32, 200)))))
    if choice == 9:
        return json.dumps(rng.choice(("!!!", "A", "AAAAA", "====", "a=b", "\u00e9\u00e9")))
    return json.dumps(_hostile_text(rng))


def _honest_json(name: str, live: Live, app: str, rng: random.Random) -> str:
    if name == "csrf":
        return json.dumps(live.csrf(app))
    if name == "token":
        return json.dumps(live.token)
    if name in ("report", "team", "mine", "manifest"):
        return json.dumps(b64(rng.randbytes(rng.choice((10, 200)))))
    if name == "files":
        return json.dumps([{"manifest": b64(rng.randbytes(120)), "chunks": rng.choice((1, 2, 0, -1, 10**6))}])
    if name == "urgent":
        return rng.choice(("true", "false", '"yes"', "1"))
    if name == "nonce":
        return json.dumps(b64(rng.randbytes(18)))
    return json.dumps(_hostile_text(rng))


def _json_body(rng: random.Random, live: Live, app: str, honest: bool) -> bytes:
    roll = rng.random()
    if roll < 0.08:  # not an object at all, or not JSON
        return rng.choice((b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{'a': 1}"))
    if roll < 0.14:
        return _json_value(rng).encode("utf-8", "surrogatepass")
    members: list[str] = []
    if honest:  # past CSRF and the work, so the members below are what gets parsed
        challenge, solution = live.work()
        members += [f'"challenge": "{challenge}"', f'"solution": "{solution}"']
    for name in rng.sample(JSON_MEMBERS, rng.randrange(1, len(JSON_MEMBERS))):
        value = _honest_json(name, live, app, rng) if rng.random() < 0.5 else _json_value(rng)
        members.append(f"{json.dumps(name)}: {value}")
    if rng.random() < 0.2:
        members.append(members[0] if members else '"csrf": 1')  # a duplicate key
    return ("{" + ", ".join(members) + "}").encode("utf-8", "surrogatepass")


def _mutated(rng: random.Random) -> str | bytes:
    return rng.choice(HOSTILE_BYTES) if rng.random() < 0.15 else _hostile_text(rng)


def _form_fields(
    rng: random.Random, route_path: str, harvest: Harvest, live: Live, app: str
) -> list[tuple[str, str | bytes]]:
    """The page's own fields with honest values, but up to three of them missing, duplicated or
    hostile: an all-hostile form stops at the first check and never reaches the later ones."""
    known = list(harvest.fields.get(route_path, []))
    if not known:
        known = [(name, "") for name in rng.sample(sorted(harvest.names), min(6, len(harvest.names)))]
    mutate = set(rng.sample(range(len(known)), min(len(known), rng.choice((0, 1, 1, 2, 3)))))
    fields: list[tuple[str, str | bytes]] = []
    for position, (name, shown) in enumerate(known):
        hostile = position in mutate
        if hostile and rng.random() < 0.2:
            continue  # missing
        value: str | bytes
        if name == "csrf":
            value = rng.choice(("é", "\x00", "", "x" * 100, "١", "[]")) if hostile else live.csrf(app)
        elif name == "token":
            value = _hostile_text(rng) if hostile else live.token
        elif name == "challenge":
            challenge, solution = (_hostile_text(rng), _hostile_text(rng)) if hostile else live.work()
            fields.append(("solution", solution))
            value = challenge
        elif name == "solution":
            continue  # comes with its challenge
        else:
            value = _mutated(rng) if hostile else harvest.honest(rng, name, shown)
        fields.append((name, value))
        if hostile and rng.random() < 0.2:
            fields.append((name, _mutated(rng)))  # duplicated
    if rng.random() < 0.1:
        fields.append((rng.choice(sorted(harvest.names)), _hostile_text(rng)))
    return fields


def _urlencoded(fields: list[tuple[str, str | bytes]]) -> bytes:
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in fields).encode()


def _multipart(rng: random.Random, fields: list[tuple[str, str | bytes]]) -> tuple[bytes, str]:
    boundary = "fuzz" + str(rng.randrange(10**9))
    parts = []
    for name, value in fields:
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + raw + b"\r\n")
    if rng.random() < 0.5:
        filename = rng.choice(("x.jpg", "", "\u202egpj.exe", "a\x00b.png", "é" * 300, "../../x"))
        kind = rng.choice(("image/jpeg", "image/png", "application/pdf", "", "\x00/\x01"))
        data = rng.choice(
            (b"", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00", b"\x89PNG\r\n\x1a\n" + rng.randbytes(40))
        )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n".encode("utf-8", "surrogatepass")
            + data
            + b"\r\n"
        )
    closing = b"" if rng.random() < 0.1 else f"--{boundary}--\r\n".encode()
    return b"".join(parts) + closing, f"multipart/form-data; boundary={boundary}"


def _query(rng: random.Random, harvest: Harvest, honest_path: str) -> str:
    """A page's own query (its GET forms) with one or two values hostile, or hostile names."""
    own = sorted(harvest.queries.get(honest_path, ()))
    if rng.random() < (0.2 if own else 0.6):
        return ""
    names = own if own and rng.random() < 0.8 else sorted(harvest.query)
    hostile = set(rng.sample(names, min(len(names), rng.choice((1, 1, 2)))))
    pairs = []
    for name in names if names is own else hostile:
        value = _hostile_text(rng) if name in hostile else harvest.honest(rng, name, "")
        pairs.append(f"{quote(name, safe='')}={_encode_value(rng, value) if name in hostile else quote(value)}")
    if rng.random() < 0.1:
        pairs.append("%00=%00")
    return "?" + "&".join(pairs)


def generate(route: Route, targets: Targets, harvest: Harvest, live: Live, rng: random.Random) -> FuzzRequest:
    """One hostile request for ``route``."""
    values = {name: _path_value(rng, name, converter, targets, route) for name, converter in route.params}
    path = PARAMETER.sub(lambda m: values[m.group(2)], route.rule)
    page = honest_path(route, targets)
    method = route.method if rng.random() < 0.85 else rng.choice(ODD_METHODS)
    headers: dict[str, str] = {}
    body = b""
    what = []
    if rng.random() < 0.2:
        headers["X-CSRFToken"] = live.csrf(route.app) if rng.random() < 0.5 else rng.choice(("é", "", "\x7f", "1"))
    if route.rule.startswith("/api/upload"):
        headers["X-Upload-Secret"] = live.upload_secret if rng.random() < 0.6 else rng.choice(("", "é", "x" * 300))
        size = rng.choice((0, 15, 16, 100, 65552, 65553, 200_000))
        body = rng.randbytes(size)
        what.append(f"chunk of {size}")
    elif method not in ("GET", "HEAD", "OPTIONS", "TRACE") or rng.random() < 0.1:
        kind = rng.random()
        if "/api/" in route.rule or kind < 0.25:
            honest = rng.random() < 0.6
            body = _json_body(rng, live, route.app, honest)
            headers["Content-Type"] = "application/json" if rng.random() < 0.8 else rng.choice(CONTENT_TYPES)
            if honest and rng.random() < 0.9:  # as app.js sends it: the same value in the header
                headers["X-CSRFToken"] = live.csrf(route.app)
            what.append("json")
        else:
            fields = _form_fields(rng, page, harvest, live, route.app)
            if kind < 0.7:
                body = _urlencoded(fields)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                what.append("form")
            else:
                body, headers["Content-Type"] = _multipart(rng, fields)
                what.append("multipart")
            if rng.random() < 0.1:
                headers["Content-Type"] = rng.choice(CONTENT_TYPES)
                what.append("odd type")
        if rng.random() < 0.03:
            body += b"&x=" + b"A" * rng.choice((3_000_000, 300_000))
            what.append("oversized")
    return FuzzRequest(method, path + _query(rng, harvest, page), headers, body, " ".join(what) or "bare")


def requests_for(
    route: Route, targets: Targets, harvest: Harvest, live: Live, seed: int, count: int
) -> Iterator[FuzzRequest]:
    """``count`` requests for one route, the same ones for the same seed and route."""
    rng = random.Random(f"{seed}:{route.name}")
    for _ in range(count):
        yield generate(route, targets, harvest, live, rng)


# -- driving it --------------------------------------------------------------------------------


class PageLive:
    """``Live`` values read from the pages, as a browser would get them."""

    def __init__(self, intake: Transport, desk: Transport, token: str, upload_secret: str) -> None:
        self.transports = {"intake": intake, "desk": desk}
        self.token, self.upload_secret = token, upload_secret
        self._csrf: dict[str, str] = {}

    def csrf(self, app: str) -> str:
        if app not in self._csrf:
            path = "/en/status" if app == "intake" else "/account"
            _s, _h, page = self.transports[app].send("GET", path)
            self._csrf[app] = csrf_in(page.decode(errors="replace"))
        return self._csrf[app]

    def forget_csrf(self) -> None:
        self._csrf.clear()

    def work(self) -> tuple[str, str]:
        _s, _h, page = self.transports["intake"].send("GET", "/en/status")
        challenge = challenge_in(page.decode(errors="replace"))
        return challenge, solve(challenge) if challenge else ""


def honest_path(route: Route, targets: Targets) -> str:
    return PARAMETER.sub(
        lambda m: quote(targets.real.get(m.group(2), targets.static.get(route.app, targets.langs[0])), safe=""),
        route.rule,
    )


def crawl(transports: Mapping[str, Transport], routes: Iterable[Route], targets: Targets, live: PageLive) -> Harvest:
    """Read the forms of every page (and of the reporter's status page) for field names and values."""
    harvest = Harvest()
    for route in routes:
        if route.method == "GET" and "static" not in route.rule:
            path = honest_path(route, targets)
            _s, _h, page = transports[route.app].send("GET", path)
            harvest.add_page(page.decode(errors="replace"), path)
    challenge, solution = live.work()
    fields = [("csrf", live.csrf("intake")), ("challenge", challenge), ("solution", solution), ("token", live.token)]
    body, headers = form_body(fields)
    _s, _h, page = transports["intake"].send("POST", "/en/status", body, headers)
    harvest.add_page(page.decode(errors="replace"), "/en/status")
    return harvest


def server_error(status: int, headers: Mapping[str, str]) -> bool:
    """A 5xx other than the argon2 bound's 503 + Retry-After (headers named in lower case)."""
    return status >= 500 and not (status == 503 and "retry-after" in headers)


def fuzz_route(
    transport: Transport, route: Route, targets: Targets, harvest: Harvest, live: Live, seed: int, count: int
) -> Iterator[tuple[FuzzRequest, int, bool]]:
    """Send ``count`` hostile requests to one route; yields each with its status and whether that
    is a server error."""
    for request in requests_for(route, targets, harvest, live, seed, count):
        status, headers, _b = transport.send(request.method, request.path, request.body, request.headers)
        yield request, status, server_error(status, headers)


def order(routes: Iterable[Route]) -> list[Route]:
    """Routes that end the session or the login come last, so the rest is fuzzed logged in."""
    last = ("/logout", "/login")
    return sorted(routes, key=lambda r: any(r.rule.startswith(p) for p in last))
