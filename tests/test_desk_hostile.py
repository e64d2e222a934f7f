"""The desk survives hostile reports: hostile *structure*, sealed with the installation's own
intake key exactly as a reporter's client would seal it, never breaks a page.

Reports, manifests and follow-ups are filed through ``cases.reports`` / ``cases.conversation``
(the intake's own filing calls); every desk page that lists or shows cases must then answer
without a 5xx, show the bad case as unreadable with a reason, and show a good case normally.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from cases import reports
from cases.blobs import FilesystemBlobStore
from cases.conversation import context
from cases.db import Database
from cases.intake_keys import current
from cases.models import Case, Caseworker
from cases.statistics import COUNTED, csv_rows
from crypto.envelope import Purpose, seal
from crypto.stream import CHUNK_SIZE, Manifest, seal_file

from .conftest import Installed
from .desk_helpers import csrf_of, logged_in_client
from .factories import file_case

GOOD = {"v": 1, "lang": "en", "answers": {"what_happened": "GOOD-CASE-story", "country": "Kenya"}}
DEEP = b"[" * 100_000 + b"]" * 100_000

# -- hostile JSON ---------------------------------------------------------------------------------


def _deep(depth: int, inner: bytes = b"1") -> bytes:
    return b'{"a":' * depth + inner + b"}" * depth


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
# Any JSON value, nested a little: what "wrong types everywhere" puts where text belongs.
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_bad_literals = st.sampled_from(
    [
        b"1e999",
        b"-1e999",
        b"1" + b"0" * 400,  # 10**400
        b"NaN",
        b"Infinity",
        b'"\\ud800"',  # a lone surrogate
        b'"\xff\xfe"',  # not UTF-8
        b'"' + b"x" * 300_000 + b'"',
        DEEP,
        _deep(5_000),
    ]
)


def _document(answers: dict[str, bytes]) -> bytes:
    members = b",".join(json.dumps(k).encode() + b":" + v for k, v in answers.items())
    return b'{"v":1,"lang":"en","answers":{' + members + b"}}"


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    """Bytes a hostile client could seal as a report: broken structure, not merely odd strings."""
    kind = draw(st.sampled_from(["value", "literal", "top", "duplicate", "answers", "deep"]))
    field = draw(st.sampled_from(["what_happened", "country", "act_types", "danger", "consent_publish", "lang"]))
    if kind == "value":
        return _document({field: json.dumps(draw(_values.filter(lambda v: not isinstance(v, str)))).encode()})
    if kind == "literal":
        return _document({field: draw(_bad_literals)})
    if kind == "top":
        return draw(st.sampled_from([b"[]", b"1", b'"report"', b"null", b"", b"\xff", DEEP, b"1e999"]))
    if kind == "duplicate":
        return b'{"v":1,"answers":{"country":"a"},"answers":{"country":"b"}}'
    if kind == "answers":
        return b'{"v":1,"answers":' + draw(st.sampled_from([b"[]", b"1e999", b'"x"', DEEP, b"true"])) + b"}"
    return _deep(draw(st.integers(min_value=20, max_value=50_000)))


KEY = base64.urlsafe_b64encode(b"k" * 32).rstrip(b"=")


@st.composite
def hostile_manifest(draw: st.DrawFn) -> bytes:
    size = draw(
        st.sampled_from([b"1e999", b"1" + b"0" * 400, b"-1", b"1.5", b'"5"', b"true", b"9007199254740993", DEEP])
    )
    name = draw(st.sampled_from([b'"\\ud800"', b'"a\xffb"', b"[]", b'"' + b"n" * 5_000 + b'"']))
    shape = draw(st.sampled_from(["size", "name", "duplicate", "top"]))
    if shape == "size":
        return b'{"v":1,"name":"x","type":"t","size":' + size + b',"chunks":1,"key":"' + KEY + b'"}'
    if shape == "name":
        return b'{"v":1,"name":' + name + b',"type":"t","size":1,"chunks":1,"key":"' + KEY + b'"}'
    if shape == "duplicate":
        return b'{"v":1,"name":"x","type":"t","size":1,"size":2,"chunks":1,"key":"' + KEY + b'"}'
    return draw(st.sampled_from([b"[]", DEEP, b"null", b"\xff"]))


# -- filing ---------------------------------------------------------------------------------------


def file_raw(
    database: Database,
    blobs: FilesystemBlobStore,
    report: bytes,
    manifest: bytes | None = None,
    message: bytes | None = None,
) -> str:
    """File sealed bytes as the intake's filing code stores them: report, file, follow-up."""
    return file_case(
        database,
        raw_report=report,
        raw_manifests=() if manifest is None else (manifest,),
        follow_ups=() if message is None else (message,),
        blobs=blobs,
    ).case_id


def file_good(database: Database, blobs: FilesystemBlobStore) -> str:
    files = [("photo.jpg", b"fine", "image/jpeg")]
    return file_case(database, raw_report=json.dumps(GOOD).encode(), files=files, blobs=blobs).case_id


def every_page(client: FlaskClient, case_id: str) -> dict[str, str]:
    """Each desk page that reads cases: none may answer 5xx."""
    pages = {}
    for path in (
        "/",
        "/?assignee=me",
        f"/cases/{case_id}",
        f"/cases/{case_id}/print",
        f"/cases/{case_id}/export.json",
        "/statistics",
        "/statistics.csv",
    ):
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = response.get_data(as_text=True)
    return pages


def assert_unreadable_with_reason(pages: dict[str, str], case_id: str, why: str) -> None:
    assert "Unreadable report:" in pages[f"/cases/{case_id}"] and why in pages[f"/cases/{case_id}"]
    assert why in pages["/"]
    export = json.loads(pages[f"/cases/{case_id}/export.json"])
    assert export["report"] is None and any(why in part for part in export["unreadable"])


# -- the two reproductions of the audit -----------------------------------------------------------


def test_a_deeply_nested_report_does_not_take_the_desk_down(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    good = file_good(database, blobs)
    bad = file_raw(database, blobs, b'{"v":1,"answers":' + DEEP + b"}")
    client = logged_in_client(desk_app, database)
    pages = every_page(client, bad)
    assert_unreadable_with_reason(pages, bad, "nested too deeply")
    assert "GOOD-CASE-story" in client.get(f"/cases/{good}").get_data(as_text=True)
    assert "photo.jpg" in client.get(f"/cases/{good}").get_data(as_text=True)


def test_a_manifest_of_size_1e999_is_an_unreadable_file_not_a_crash(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    manifest = b'{"v":1,"name":"x.jpg","type":"image/jpeg","size":1e999,"chunks":1,"key":"' + KEY + b'"}'
    bad = file_raw(database, blobs, json.dumps(GOOD).encode(), manifest=manifest)
    client = logged_in_client(desk_app, database)
    pages = every_page(client, bad)
    assert "its description is unreadable" in pages[f"/cases/{bad}"]
    assert "GOOD-CASE-story" in pages[f"/cases/{bad}"]  # the report itself is fine
    export = json.loads(pages[f"/cases/{bad}/export.json"])
    assert export["attachments"][0]["name"] is None
    attachment = export["attachments"][0]["id"]
    assert client.get(f"/cases/{bad}/files/{attachment}").status_code == 409


# -- hypothesis: hostile reports, manifests and follow-ups ----------------------------------------


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking megabyte documents takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(report=hostile_json(), manifest=hostile_manifest(), message=st.binary(max_size=64) | hostile_json())
def test_hostile_structure_never_breaks_a_desk_page(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore, report: bytes, manifest: bytes, message: bytes
) -> None:
    good = file_good(database, blobs)
    bad = file_raw(database, blobs, report, manifest=manifest, message=message)
    client = logged_in_client(desk_app, database)
    pages = every_page(client, bad)
    case_page = pages[f"/cases/{bad}"]
    export = json.loads(pages[f"/cases/{bad}/export.json"])
    if export["report"] is None:  # most are refused; a few (a huge "lang" number...) are fine
        assert "Unreadable report:" in case_page
    assert "its description is unreadable" in case_page
    good_page = client.get(f"/cases/{good}").get_data(as_text=True)
    assert "GOOD-CASE-story" in good_page and "photo.jpg" in good_page


def test_every_hostile_report_kind_is_refused_with_a_reason() -> None:
    from cases import report_schema

    for raw in (
        DEEP,
        b"1e999",
        b'{"answers":{"country":1e999}}',
        b'{"answers":{"country":' + b"1" * 400 + b"}}",
        b'{"answers":{"country":NaN}}',
        b'{"answers":{},"answers":[]}',
        b'{"answers":{"country":"\\ud800"}}',
        b'{"answers":{"country":"\xff"}}',
        b"[]",
        b'{"v":1,"country":"Freedonia"}',  # flat: no "answers" object
        b'{"answers":{"act_types":[[1]]}}',
        b'{"answers":{"country":{"a":1}}}',
        b'{"answers":{"country":"' + b"x" * 300_000 + b'"}}',
    ):
        with pytest.raises(report_schema.Unreadable):
            report_schema.parse(raw)
    typed = report_schema.parse(json.dumps(GOOD).encode())
    assert typed.answers == {"what_happened": "GOOD-CASE-story", "country": "KE"}  # "Kenya" read as its code
    assert typed.lang == "en"


def test_manifest_bounds_hold_without_the_cases_package() -> None:
    from crypto.errors import OpenError

    fine = Manifest("a", "b", CHUNK_SIZE + 1, 2, b"k" * 32)
    assert Manifest.from_json(fine.to_json()) == fine
    for raw in (
        b'{"v":1,"name":"x","type":"t","size":1e999,"chunks":1,"key":"' + KEY + b'"}',
        b'{"v":1,"name":"x","type":"t","size":' + b"1" * 400 + b',"chunks":1,"key":"' + KEY + b'"}',
        b'{"v":1,"name":"x","type":"t","size":9007199254740993,"chunks":137438953473,"key":"' + KEY + b'"}',
        b'{"v":1,"name":"x","type":"t","size":true,"chunks":1,"key":"' + KEY + b'"}',
        b'{"v":1,"name":"\\ud800","type":"t","size":1,"chunks":1,"key":"' + KEY + b'"}',
        b'{"v":1,"name":"x","type":"t","size":1,"size":1,"chunks":1,"key":"' + KEY + b'"}',
        DEEP,
    ):
        with pytest.raises(OpenError):
            Manifest.from_json(raw)


# -- item 11: statistics count only triaged cases -------------------------------------------------


def _triage(database: Database, case_id: str, verification: str) -> None:
    with database.session() as session:
        case = session.get_one(Case, case_id)
        body = json.dumps({"v": 1, "verification": verification}).encode()
        case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context(case, "triage"))


def test_fake_reports_cannot_lift_a_real_one_over_the_threshold(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    answers = {"what_happened": "x", "country": "Smallstate", "act_types": ["killing"], "consent_publish": "named"}
    real = file_raw(database, blobs, json.dumps({"v": 1, "answers": answers}).encode())
    _triage(database, real, "confirmed")
    for _ in range(4):  # k - 1 fakes, never triaged (or triaged and found wanting)
        file_raw(database, blobs, json.dumps({"v": 1, "answers": answers}).encode())
    _triage(database, file_raw(database, blobs, json.dumps({"v": 1, "answers": answers}).encode()), "unverified")
    client = logged_in_client(desk_app, database)
    page = client.get("/statistics").get_data(as_text=True)
    assert "Smallstate" not in page and COUNTED in page
    rows = list(csv.reader(io.StringIO(client.get("/statistics.csv").get_data(as_text=True))))
    assert rows[1] == ["(counted)", COUNTED, ""]
    assert ["act_type", "killing", "<5"] in rows  # one real case, not six
    assert not any(row[1] == "Smallstate" for row in rows)


# -- item 18: bidi controls and spreadsheet formulas ----------------------------------------------


def test_bidi_controls_cannot_disguise_a_file_name(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    case_id = file_raw(database, blobs, json.dumps(GOOD).encode())
    with database.session() as session:
        case = session.get_one(Case, case_id)
        manifest, chunks = seal_file(current(session).public_key, b"MZ", "invoice\u202egpj.exe", "image/jpeg")
        attachment = reports.attach_file(session, blobs, case, manifest, chunks).id
    client = logged_in_client(desk_app, database)
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/print", f"/cases/{case_id}/export.json"):
        body = client.get(path).get_data(as_text=True)
        assert "\u202e" not in body and "\\u202e" not in body and "invoice\ufffdgpj.exe" in json.loads(json.dumps(body))
    download = client.get(f"/cases/{case_id}/files/{attachment}")
    assert "%E2%80%AE" not in download.headers["Content-Disposition"]


@pytest.mark.parametrize("country", ["=HYPERLINK(1)", "Foo;=cmd|'/c calc'!A1", "Foo,@SUM(1)", 'a;"+1', "x\t-1"])
def test_statistics_csv_cells_are_formulas_in_no_locale(country: str) -> None:
    from cases import statistics

    facts = [statistics.Facts("2025-01", "named", country, (), (), "credible") for _ in range(6)]
    text = io.StringIO()
    csv.writer(text).writerows(csv_rows(statistics.publish(facts, 5, dt.date(2025, 2, 1))))
    for separator in (",", ";", "\t", "|"):
        for line in text.getvalue().splitlines():
            for cell in line.split(separator):
                assert cell.strip().lstrip('"').strip()[:1] not in ("=", "+", "-", "@"), (separator, cell)


# -- item 19: integers over 64 bits ---------------------------------------------------------------


def test_huge_and_unicode_numbers_are_400_or_404_never_500(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore, installed: Installed
) -> None:
    case_id = file_good(database, blobs)
    client = logged_in_client(desk_app, database)
    token = csrf_of(client, desk_app)
    huge = str(2**70)
    for query in (
        f"assignee={huge}",
        "assignee=²",
        "assignee=١٢",
        "assignee=" + "1" * 5000,
        f"page={huge}",
        "page=²",
        "country=" + "x" * 101,
    ):
        assert client.get(f"/?{query}").status_code == 400, query
    assert client.get("/?page=99999").status_code == 200
    for value in (huge, "²", "١٢", "1_0", "-1", " 1", "99999999999"):
        response = client.post(f"/cases/{case_id}/assign", data={"csrf": token, "to": value})
        assert response.status_code == 400, value
    for action in ("grant", "disable", "enable", "reset-authenticator"):
        response = client.post(f"/admin/people/{huge}/{action}", data={"csrf": token})
        assert response.status_code == 404, action
    response = client.post("/admin/people/add", data={"csrf": token, "username": "a\x00b", "role": "caseworker"})
    assert response.status_code == 400
    # A NUL byte never reaches a view: the control-character guard refuses the address.
    assert client.get("/cases/a%00b").status_code == 400
    assert client.get("/cases/a%00b/export.json").status_code == 400
    with database.session() as session:
        assert session.scalar(select(Case.assigned_to).where(Case.id == case_id)) is None
        assert session.scalar(select(func.count()).select_from(Caseworker)) == 1


def test_form_fields_are_bounded(desk_app: Flask, database: Database, blobs: FilesystemBlobStore) -> None:
    case_id = file_good(database, blobs)
    client = logged_in_client(desk_app, database)
    token = csrf_of(client, desk_app)
    cases = [
        ("/triage", {"verification": "maybe"}),
        ("/triage", {"act_types": "not-a-kind"}),
        ("/triage", {"country": "other", "country_other": "x" * 201}),
        ("/referrals", {"to": "x" * 501, "on": "2025-01-01"}),
        ("/referrals", {"to": "x", "on": "2025-01-01" * 5}),
        ("/status", {"status": "received", "explanation": "x" * 20_001}),
        ("/reply", {"text": "x" * 20_001}),
        ("/notes", {"text": ""}),
    ]
    for path, data in cases:
        response = client.post(f"/cases/{case_id}{path}", data={"csrf": token, **data})
        assert response.status_code == 400, (path, data)
        assert "Nothing was" in response.get_data(as_text=True) or "Choose" in response.get_data(as_text=True)
    # A JSON body is not read as the form (flask_wtf would parse it, unbounded).
    response = client.post(
        f"/cases/{case_id}/notes",
        data=b'{"text":' + DEEP + b"}",
        headers={"X-CSRF-Token": token},
        content_type="application/json",
    )
    assert response.status_code < 500


# -- item 22: two statistics views at once on SQLite ----------------------------------------------


def test_concurrent_statistics_views_do_not_lock_the_database(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    for n in range(6):
        case_id = file_raw(
            database,
            blobs,
            json.dumps(
                {"v": 1, "answers": {"what_happened": "x", "country": f"C{n}", "consent_publish": "named"}}
            ).encode(),
        )
        _triage(database, case_id, "credible")
    clients = [logged_in_client(desk_app, database) for _ in range(4)]
    statuses: list[int] = []
    errors: list[BaseException] = []

    def view(client: FlaskClient) -> None:
        try:
            for n in range(6):
                # A new case between rounds changes the figures, so each round stores them anew.
                statuses.append(client.get("/statistics" if n % 2 else "/statistics.csv").status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=view, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for n in range(3):
        late = {"v": 1, "answers": {"what_happened": "x", "country": f"late{n}", "consent_publish": "named"}}
        _triage(database, file_raw(database, blobs, json.dumps(late).encode()), "credible")
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert statuses == [200] * 24


def test_racing_refreshes_of_the_stored_figures_never_fail(desk_app: Flask, database: Database) -> None:
    """Writers that collide on SQLite are refused at once ("database is locked" when waiting could
    deadlock): a view that loses the race shows its figures and leaves the storing to the winner."""
    from cases import statistics, statistics_snapshot

    aggregates = [
        statistics.publish(
            [statistics.Facts("2025-01", "named", f"C{n}", (), (), "credible")] * 5, 5, dt.date(2025, 2, 1)
        )
        for n in range(8)
    ]
    errors: list[BaseException] = []

    def refresh(aggregate: dict[str, object]) -> None:
        for _ in range(15):
            try:
                statistics_snapshot.save(database, aggregate)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=refresh, args=(aggregate,)) for aggregate in aggregates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:1]
    with database.session() as session:
        assert statistics_snapshot.load(session) in aggregates  # one whole copy, never a mix


def test_a_view_whose_figures_did_not_change_writes_no_figures(
    desk_app: Flask, database: Database, blobs: FilesystemBlobStore
) -> None:
    _triage(database, file_good(database, blobs), "credible")
    client = logged_in_client(desk_app, database)
    assert client.get("/statistics").status_code == 200
    writes: list[str] = []

    def spy(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "public_statistics" in statement and not statement.lstrip().upper().startswith("SELECT"):
            writes.append(statement)

    event.listen(database.engine, "before_cursor_execute", spy)
    try:
        assert client.get("/statistics").status_code == 200
        assert client.get("/statistics.csv").status_code == 200
    finally:
        event.remove(database.engine, "before_cursor_execute", spy)
    assert writes == []
