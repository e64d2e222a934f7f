"""Case exports (JSON, print) and public statistics: suppression logic, pages, stored aggregate."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import itertools
import json

import pytest
from sqlalchemy import func, select, text, update

from cases import audit, installation, keyring, reports, statistics, statistics_facts, statistics_snapshot
from cases.config import ConfigError, Settings
from cases.conversation import add_follow_up, change_status, context, reply, seal_follow_up
from cases.intake_keys import current
from cases.models import AuditEvent, Case, Caseworker, Note, PublicStatistics, Role, SealedIn, Status
from crypto.envelope import Purpose, seal
from crypto.keys import KeyPair
from crypto.stream import seal_file

from .conftest import ADMIN_PASSWORD
from .desk_helpers import logged_in_client, make_desk_app
from .factories import file_case

ANALYST_PASSWORD = "analyst long password"
CANARY = "CANARY-report-Zq81"
FILE_CANARY = b"CANARY-file-content-77"
RARE_COUNTRY = "CANARY-village-of-Mr-X"
HOSTILE_NAME = '"><img src=x onerror=alert(1)>.html'
SCRIPT = "<script>alert(1)</script>"


# -- the pure aggregation and suppression (cases.statistics) -------------------------------------


def _facts(country: str = "", acts: tuple[str, ...] = (), links: tuple[str, ...] = (), **kw) -> statistics.Facts:
    return statistics.Facts(
        month=kw.get("month", "2025-03"),
        publish=kw.get("publish", "anonymised"),
        country=country,
        act_types=acts,
        un_link=links,
        verification=kw.get("verification", "credible"),
    )


def _table(aggregate: dict, dimension: str) -> dict[str, str]:
    return dict(aggregate["tables"][dimension])


def test_only_cases_whose_reporter_allowed_publication_are_counted() -> None:
    cases = [_facts("Kenya", ("threats",), publish=p) for p in ("named", "anonymised", "no", "", "maybe")]
    cases += [_facts("Kenya", ("threats",), publish="named") for _ in range(5)]
    aggregate = statistics.publish(cases, 5, dt.date(2025, 4, 1))
    assert _table(aggregate, "country") == {"Kenya": "7"}
    assert _table(aggregate, "act_type") == {"threats": "7"}
    assert aggregate["on"] == "2025-04-01" and aggregate["k"] == 5


def test_small_counts_are_shown_below_k_and_rare_countries_are_never_named() -> None:
    cases = [_facts("Kenya", ("threats", "surveillance"), ("upr",)) for _ in range(7)]
    cases += [_facts(RARE_COUNTRY, ("killing",), ("hrc",)) for _ in range(2)]
    cases += [_facts("kenya ", ("threats",))]  # same country, other spelling
    aggregate = statistics.publish(cases, 5, dt.date(2025, 4, 1))
    assert _table(aggregate, "act_type") == {"threats": "8", "killing": "<5", "surveillance": "7"}
    assert _table(aggregate, "un_link") == {"hrc": "<5", "upr": "7"}
    country = _table(aggregate, "country")
    assert country["Kenya"] in ("8", "5+")
    assert RARE_COUNTRY not in json.dumps(aggregate)
    assert country[statistics.OTHER] == "<5"


def test_values_outside_the_form_vocabulary_never_reach_the_tables() -> None:
    odd = statistics.facts(dt.date(2025, 1, 2), {"consent_publish": "named", "act_types": ["<b>x</b>", "threats"]})
    assert odd.act_types == ("threats",)
    hostile = statistics.facts(dt.date(2025, 1, 2), {"act_types": "killing", "un_link": [1, None], "country": ["x"]})
    assert hostile.act_types == ("killing",) and hostile.un_link == () and hostile.country == ""


def test_triage_overrides_the_report_only_where_a_caseworker_filled_it_in() -> None:
    answers = {"country": "Narnia", "act_types": ["threats"], "un_link": ["upr"], "consent_publish": "named"}
    triage = {"country": " Example\u200bRepublic \n", "act_types": ["killing"], "un_link": []}
    facts = statistics.facts(dt.date(2025, 2, 28), answers, triage)
    assert facts == statistics.Facts("2025-02", "named", "Example Republic", ("killing",), ("upr",))


def test_a_single_suppressed_cell_of_a_partition_gets_a_complement() -> None:
    # N = 13 is readable from the month table; with only one "<5" country it would be 13 - 10.
    shown = statistics.partition_display({"A": 10, "B": 3}, 5)
    assert shown == {"A": "5+", "B": "<5"}
    assert statistics.partition_display({"A": 10, "B": 7}, 5) == {"A": "10", "B": "7"}
    # A complement of exactly k would still pin a 1 (sum 6 = 1 + 5): a larger one is chosen.
    assert statistics.partition_display({"A": 5, "B": 9, "C": 1}, 5) == {"A": "5", "B": "5+", "C": "<5"}
    # Two "<5" cells summing to 2 are both 1: complement too.
    assert statistics.partition_display({"A": 1, "B": 1, "C": 8}, 5) == {"A": "<5", "B": "<5", "C": "5+"}
    # Nothing can hide a lone small cell: the table is withheld.
    assert statistics.partition_display({"A": 3}, 5) is None
    assert statistics.partition_display({"A": 1, "B": 5}, 5) is None


def _possible_values(shown: dict[str, str], total: int, k: int) -> dict[str, set[int]]:
    """Brute force: every value each cell can take given what is shown and the total N."""
    ranges = {
        cell: [int(text)] if text.isdigit() else range(1, k) if text.startswith("<") else range(k, total + 1)
        for cell, text in shown.items()
    }
    cells = list(ranges)
    possible: dict[str, set[int]] = {cell: set() for cell in cells}
    for combo in itertools.product(*(ranges[c] for c in cells)):
        if sum(combo) == total:
            for cell, value in zip(cells, combo, strict=True):
                possible[cell].add(value)
    return possible


@pytest.mark.parametrize("k", [3, 5])
def test_no_suppressed_cell_of_a_partition_can_be_worked_out_from_the_total(k: int) -> None:
    checked = 0
    for size in (1, 2, 3):
        for counts in itertools.product(range(1, 2 * k + 2), repeat=size):
            table = {chr(65 + i): n for i, n in enumerate(counts)}
            shown = statistics.partition_display(table, k)
            if shown is None:
                continue
            possible = _possible_values(shown, sum(counts), k)
            for cell, display in shown.items():
                if not display.isdigit():
                    assert len(possible[cell]) >= 2, (table, shown, cell)
                    assert table[cell] in possible[cell]
                    checked += 1
                else:
                    assert int(display) == table[cell]
    assert checked > 100


def test_published_tables_carry_no_total_and_the_month_table_is_protected_too() -> None:
    cases = [_facts("Kenya", month="2025-01") for _ in range(9)] + [_facts("Kenya", month="2025-02")]
    aggregate = statistics.publish(cases, 5, dt.date(2025, 3, 1))
    assert _table(aggregate, "month") == {"2025-01": "5+", "2025-02": "<5"}
    assert "total" not in json.dumps(aggregate).lower()


def test_k_below_three_is_refused_and_csv_cells_are_spreadsheet_safe() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        statistics.publish([], 2, dt.date(2025, 1, 1))
    cases = [_facts("=HYPERLINK(1)") for _ in range(6)]
    rows = statistics.csv_rows(statistics.publish(cases, 5, dt.date(2025, 1, 1)))
    assert rows[0] == ["dimension", "value", "count"]
    assert ["country", "'=HYPERLINK(1)", "6"] in rows


# -- the desk pages ------------------------------------------------------------------------------


@pytest.fixture
def analyst(database, settings, installed) -> str:
    with database.session() as session:
        installation.create_caseworker(session, "ana", ANALYST_PASSWORD, Role.ANALYST, settings.argon2)
    return "ana"


def _file(database, answers: dict, received_on: dt.date | None = None, verification: str = "") -> str:
    answers = {"what_happened": "x", **answers}
    with database.session() as session:
        filed = file_case(session, answers=answers, lang="fr", sealed_in=SealedIn.SERVER, received_on=received_on)
        case = session.get_one(Case, filed.case_id)
        if verification:
            body = json.dumps({"v": 1, "verification": verification}).encode()
            case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context(case, "triage"))
        return case.id


def _full_case(database, blobs, installed) -> str:
    """A case with something in every part: report, triage, thread, timeline, note, files."""
    case_id = _file(
        database,
        {"what_happened": f"{CANARY} {SCRIPT}", "country": "Kenya", "act_types": ["threats"], "consent_act": "yes"},
    )
    with database.session() as session:
        case = session.get_one(Case, case_id)
        key = current(session).public_key
        referral = {"to": f"Rapporteur {SCRIPT}", "on": "2025-01-02", "outcome": "pending"}
        triage = {
            "v": 1,
            "verification": "credible",
            "act_types": ["killing"],
            "country": "Kenya",
            "referrals": [referral],
        }
        case.triage_envelope = seal(key, Purpose.TRIAGE, json.dumps(triage).encode(), context(case, "triage"))
        team, mine = seal_follow_up(session, case, f"follow-up {CANARY}")
        message = add_follow_up(session, case, team, mine)
        reply(session, case, "reply to reporter", installed.admin_id)
        change_status(session, case, Status.UNDER_REVIEW, f"explained {SCRIPT}", installed.admin_id)
        note = seal(key, Purpose.NOTE, b"internal note text", context(case, "note"))
        session.add(Note(case_id=case.id, author_id=installed.admin_id, created_on=case.received_on, envelope=note))
        manifest, chunks = seal_file(key, FILE_CANARY * 10, HOSTILE_NAME, "text/html")
        reports.attach_file(session, blobs, case, manifest, chunks)
        manifest, chunks = seal_file(key, b"second", "photo.jpg", "image/jpeg")
        reports.attach_file(session, blobs, case, manifest, chunks, message_id=message.id)
    return case_id


def _events(database, action: str) -> list[AuditEvent]:
    with database.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_json_export_is_a_download_of_the_whole_decrypted_case(desk_app, database, blobs, installed) -> None:
    case_id = _full_case(database, blobs, installed)
    response = logged_in_client(desk_app, database).get(f"/cases/{case_id}/export.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Content-Disposition"] == f'attachment; filename="case-{case_id}.json"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert FILE_CANARY not in response.data  # names and sizes, never file contents
    doc = json.loads(response.data)
    assert doc["report"] == {"lang": "fr", "answers": {"what_happened": f"{CANARY} {SCRIPT}", **_ANSWERS}}
    assert doc["triage"]["verification"] == "credible"
    assert [m["text"] for m in doc["thread"]] == [f"follow-up {CANARY}", "reply to reporter"]
    assert [m["direction"] for m in doc["thread"]] == ["from_reporter", "to_reporter"]
    assert [(s["status"], s["explanation"]) for s in doc["timeline"]] == [
        ("received", ""),
        ("under_review", f"explained {SCRIPT}"),
    ]
    assert doc["timeline"][1]["by"] == "admin"
    assert doc["notes"] == [{"on": doc["case"]["received_on"], "by": "admin", "text": "internal note text"}]
    files = {f["name"]: f for f in doc["attachments"]}
    assert files[HOSTILE_NAME]["size"] == len(FILE_CANARY) * 10 and files[HOSTILE_NAME]["message"] is None
    assert files["photo.jpg"]["message"] == doc["thread"][0]["id"]
    assert doc["case"]["status"] == "under_review" and doc["unreadable"] == []
    [event] = _events(database, "case.export")
    assert (event.case_id, event.detail, event.actor_id) == (case_id, "json", installed.admin_id)


_ANSWERS = {"country": "Kenya", "act_types": ["threats"], "consent_act": "yes"}


def test_print_page_shows_everything_labelled_and_escaped(desk_app, database, blobs, installed) -> None:
    case_id = _full_case(database, blobs, installed)
    response = logged_in_client(desk_app, database).get(f"/cases/{case_id}/print")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # report, explanation and referral
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;.html" in html  # the file name
    expected = ["What happened?", "In which country?", "Threats or intimidation", "Killing", "photo.jpg"]
    expected += [f"follow-up {CANARY}", "reply to reporter", "internal note text"]
    for shown in expected:
        assert shown in html, shown
    # Consents: act given; authorities and publication not answered, so NOT given.
    assert html.count("(NOT given)") == 2
    assert 'class="no"' in html
    [event] = _events(database, "case.export")
    assert event.detail == "print"


def test_print_labels_in_the_caseworkers_language(desk_app, database, blobs, installed) -> None:
    case_id = _file(database, {"act_types": ["threats"]})
    with database.session() as session:
        session.execute(update(Caseworker).where(Caseworker.username == "admin").values(language="fr"))
    html = logged_in_client(desk_app, database).get(f"/cases/{case_id}/print").get_data(as_text=True)
    assert "Menaces ou intimidation" in html
    assert "Threats or intimidation" not in html


def test_cases_that_do_not_open_are_named_not_crashed_on(desk_app, database, blobs, installed) -> None:
    case_id = _file(database, {})
    stranger = KeyPair.generate().public
    with database.session() as session:
        case = session.get(Case, case_id)
        session.add(Note(case_id=case_id, created_on=case.received_on, envelope=seal(stranger, Purpose.NOTE, b"x")))
    doc = json.loads(logged_in_client(desk_app, database).get(f"/cases/{case_id}/export.json").data)
    assert doc["notes"][0]["text"] is None
    assert doc["unreadable"] == [f"note {_note_id(database)}"]


def _note_id(database) -> int:
    with database.session() as session:
        return session.scalar(select(Note.id))


def test_case_exports_are_for_staff_only(desk_app, database, analyst) -> None:
    case_id = _file(database, {"country": CANARY})
    client = logged_in_client(desk_app, database, analyst, ANALYST_PASSWORD)
    for path in (f"/cases/{case_id}/export.json", f"/cases/{case_id}/print"):
        response = client.get(path)
        assert response.status_code == 403
        assert CANARY.encode() not in response.data
    assert len(_events(database, "access.denied")) == 2
    assert _events(database, "case.export") == []
    assert logged_in_client(desk_app, database).get("/cases/nosuchcase/export.json").status_code == 404
    assert desk_app.test_client().get(f"/cases/{case_id}/print").status_code == 302  # to the login page


def _statistics_cases(database) -> None:
    march, april = dt.date(2025, 3, 14), dt.date(2025, 4, 2)
    for n in range(6):
        verification = "confirmed" if n % 2 else "credible"
        _file(database, {"country": "Kenya", "act_types": ["threats"], "consent_publish": "named"}, march, verification)
    for _ in range(2):
        answers = {"country": RARE_COUNTRY, "act_types": ["killing"], "un_link": ["upr"]}
        _file(database, {**answers, "consent_publish": "anonymised"}, april, "credible")
    for _ in range(6):  # no consent: never counted, whatever they say
        answers = {"country": "Forbiddenland", "act_types": ["surveillance"], "consent_publish": "no"}
        _file(database, answers, april, "confirmed")
    for _ in range(5):
        _file(database, {"country": "Unsaid", "act_types": ["surveillance"]}, april, "credible")
    triaged = _file(database, {"country": "Kenya", "consent_publish": "named"}, march)
    with database.session() as session:
        case = session.get(Case, triaged)
        triage = {"v": 1, "verification": "credible", "country": "Chile", "act_types": ["threats"], "un_link": ["hrc"]}
        body = json.dumps(triage).encode()
        case.triage_envelope = seal(current(session).public_key, Purpose.TRIAGE, body, context(case, "triage"))


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_statistics_count_consenting_cases_suppress_small_counts_and_serve_a_csv(desk_app, database, analyst) -> None:
    _statistics_cases(database)
    client = logged_in_client(desk_app, database)
    page = client.get("/statistics")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Forbiddenland" not in html and "Unsaid" not in html and "Surveillance" not in html
    assert RARE_COUNTRY not in html
    assert "Threats or intimidation" in html and "Universal Periodic Review" in html
    response = client.get("/statistics.csv")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="statistics-')
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0] == ["dimension", "value", "count"]
    table = {(d, v): c for d, v, c in rows[1:]}
    # 9 consenting cases: Kenya 6, Chile 1 (triage overrides Kenya), the rare country 2 (pooled).
    assert table[("act_type", "threats")] == "7"
    assert table[("act_type", "killing")] == "<5"
    assert table[("un_link", "upr")] == "<5" and table[("un_link", "hrc")] == "<5"
    # Grouped by ISO code, named with CLDR's English name.
    assert {v for d, v in table if d == "country"} == {"Kenya (KE)", statistics.OTHER}
    assert table[("country", "Kenya (KE)")] == "5+" and table[("country", statistics.OTHER)] == "<5"
    assert "<td>Kenya (KE)</td>" in html
    assert table[("month", "2025-03")] == "5+" and table[("month", "2025-04")] == "<5"
    assert not any("total" in v.lower() for _, v in table)
    details = [e.detail for e in _events(database, "statistics.export")]
    assert details == ["page (fresh)", "csv (fresh)"]
    with database.session() as session:
        assert audit.verify(session) is None


def test_analysts_read_the_stored_aggregate_which_holds_only_suppressed_counts(desk_app, database, analyst) -> None:
    _statistics_cases(database)
    reader = logged_in_client(desk_app, database, analyst, ANALYST_PASSWORD)
    assert "No figures yet" in reader.get("/statistics").get_data(as_text=True)
    assert reader.get("/statistics.csv").status_code == 404
    staff_rows = _csv(logged_in_client(desk_app, database).get("/statistics.csv"))
    assert _csv(reader.get("/statistics.csv")) == staff_rows
    html = reader.get("/statistics").get_data(as_text=True)
    assert "Last computed by a caseworker" in html
    with database.engine.connect() as conn:
        stored = conn.execute(text("SELECT aggregate FROM public_statistics")).scalar_one()
    for secret in (RARE_COUNTRY, "Forbiddenland", "Unsaid", "surveillance", CANARY):
        assert secret not in stored
    with database.session() as session:
        snapshot = statistics_snapshot.load(session)
        assert snapshot is not None and snapshot["tables"]["country"] == [["KE", "5+"], ["(other)", "<5"]]
    assert [e.detail for e in _events(database, "statistics.export")][-1] == "page (stored)"


def test_a_large_aggregate_is_stored_whole_and_replaced(database) -> None:
    cases = [_facts(f"Country number {n:03d}") for n in range(60) for _ in range(5)]
    aggregate = statistics.publish(cases, 5, dt.date(2025, 5, 1))
    assert statistics_snapshot.save(database, aggregate)
    assert statistics_snapshot.save(database, {**aggregate, "tables": {**aggregate["tables"], "country": []}})
    with database.session() as session:
        snapshot = statistics_snapshot.load(session)
        assert snapshot is not None and snapshot["tables"]["country"] == []
    assert statistics_snapshot.save(database, aggregate)
    with database.session() as session:
        (row,) = session.scalars(select(PublicStatistics)).all()
        assert len(row.aggregate) > 512  # more than a settings row could hold
        assert statistics_snapshot.load(session) == aggregate
        row.aggregate = '{"tables": "not a dict"}'
    with database.session() as session:
        assert statistics_snapshot.load(session) is None  # not what a desk stores: recomputed


def test_staff_missing_a_key_see_partial_figures_that_are_not_stored(desk_app, database, installed, settings) -> None:
    _statistics_cases(database)
    with database.session() as session:
        bea = installation.create_caseworker(session, "bea", "bea long password!", Role.CASEWORKER, settings.argon2)
        admin = session.get(Caseworker, installed.admin_id)
        keyring.grant(session, keyring.unlock(session, admin, ADMIN_PASSWORD), bea)
        installation.rotate_intake_key(session)
    with database.session() as session:  # only admin gets the new key: bea's wrap predates it
        session.execute(
            text("DELETE FROM wrapped_keys WHERE caseworker_id = :id AND intake_key_id = :k"),
            {
                "id": bea.id,
                "k": current(session).id,
            },
        )
    _file(database, {"country": "Kenya", "consent_publish": "named"})
    html = logged_in_client(desk_app, database, "bea", "bea long password!").get("/statistics").get_data(as_text=True)
    assert "1 case(s) could not be opened" in html
    with database.session() as session:
        assert statistics_snapshot.load(session) is None


def test_statistics_agree_with_and_without_the_inbox_index(desk_app, database, installed, monkeypatch) -> None:
    _statistics_cases(database)
    opened: list[int] = []
    monkeypatch.setattr(statistics_facts, "direct_facts", _spy(statistics_facts.direct_facts, opened))
    with database.session() as session:
        ring = keyring.unlock(session, session.get(Caseworker, installed.admin_id), ADMIN_PASSWORD)
        with_index = sorted(statistics_facts.gather(session, ring)[0], key=repr)
    assert opened == []  # every case came from its index entry
    with database.session() as session:
        assert session.scalar(select(func.count()).where(Case.index_blob.is_(None))) == 0
        # Opened from their sealed documents instead, every case gives the same facts.
        direct = sorted(
            statistics_facts.direct_facts(session, ring.private_keys(), session.scalars(select(Case)).all())[0],
            key=repr,
        )
    assert opened == [20]
    assert with_index == direct and len(direct) == 20


def _spy(function, calls: list):
    def wrapper(session, keys, cases):
        calls.append(len(cases))
        return function(session, keys, cases)

    return wrapper


def test_the_minimum_count_comes_from_the_settings(settings, database, installed) -> None:
    _statistics_cases(database)
    desk_app = make_desk_app(dataclasses.replace(settings, stats_min_count=8), database)
    rows = _csv(logged_in_client(desk_app, database).get("/statistics.csv"))
    assert ["act_type", "threats", "<8"] in rows
    with pytest.raises(ConfigError, match="RRI_STATS_MIN_COUNT"):
        Settings.from_env({"RRI_STATS_MIN_COUNT": "2"})


def test_print_page_reads_consent_as_strictly_as_the_desk(settings, database, installed) -> None:
    """A hostile 'named' given to 'may we act' is not consent to act, on paper or on screen."""
    from cases import reading

    rows = reading.consent_rows({"consent_act": "named", "consent_authorities": "yes"}, lambda s: s)
    assert [row.given for row in rows] == [False, True, False]
