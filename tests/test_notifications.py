"""Content-free notices through a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

import caseworker
from cases import installation, notices
from cases.config import ConfigError, MailSettings, Settings
from cases.models import Case, Caseworker, Role, SealedIn

from .cli_helpers import assert_one_line_error, run_cli
from .factories import file_case
from .production import free_port

CANARY = "CANARY-notify-Evin-prison"
COUNTRY = "CANARY-country-Oz"
DESK = "http://desk.example.onion/"
ROLES = [("bea", Role.CASEWORKER), ("cid", Role.CASEWORKER), ("dan", Role.ANALYST), ("eve", Role.CASEWORKER)]


@dataclass
class Inbox:
    """Collects what the SMTP server accepted; refuses recipients listed in ``refuse``."""

    mails: list[tuple[list[str], bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address in self.refuse:
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(address for rcpt, _ in self.mails for address in rcpt)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def staff(database, settings, installed) -> dict[str, int]:
    """admin and bea get mail; cid is disabled, dan an analyst, eve has no address."""
    people = {"admin": installed.admin_id}
    with database.session() as session:
        session.get(Caseworker, installed.admin_id).email = "admin@example.org"
        for name, role in ROLES:
            worker = installation.create_caseworker(session, name, f"{name} long password", role, settings.argon2)
            worker.email = None if name == "eve" else f"{name}@example.org"
            worker.disabled = name == "cid"
            people[name] = worker.id
    return people


def _case(database, *, pending: bool, assigned: int | None = None) -> str:
    answers = {"what_happened": CANARY, "country": COUNTRY}
    with database.session() as session:
        # The intake flags urgent reports for notice.
        filed = file_case(session, answers=answers, lang=None, sealed_in=SealedIn.SERVER, urgent=pending)
        session.get_one(Case, filed.case_id).assigned_to = assigned
        return filed.case_id


def _pending(database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(Case.id).where(Case.notify_pending.is_(True))))


def _mail(port: int) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=port, desk_url=DESK, timeout=5)


def test_the_assignee_alone_is_told_and_nothing_about_the_case_is_in_the_mail(database, staff, smtp) -> None:
    inbox, port = smtp
    case_id = _case(database, pending=True, assigned=staff["bea"])
    quiet = _case(database, pending=False)
    outcome = notices.run(database, _mail(port))
    assert (outcome.sent, outcome.cleared) == (1, 1)
    assert inbox.to() == ["bea@example.org"]
    raw = inbox.mails[0][1]
    for secret in (CANARY, COUNTRY, case_id, quiet):
        assert secret.encode() not in raw
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == notices.SUBJECT
    assert mail.get_content().replace("\r\n", "\n").strip() == f"{notices.BODY}\n\n{DESK}"
    assert _pending(database) == set()


def test_unassigned_cases_go_to_every_enabled_staff_member_once_per_run(database, staff, smtp) -> None:
    inbox, port = smtp
    _case(database, pending=True)
    _case(database, pending=True)
    _case(database, pending=True, assigned=staff["eve"])  # no address: everyone instead
    _case(database, pending=True, assigned=staff["bea"])
    outcome = notices.run(database, _mail(port))
    assert inbox.to() == ["admin@example.org", "bea@example.org"]  # not cid, dan or eve; once each
    assert (outcome.sent, outcome.cleared) == (2, 4)
    assert _pending(database) == set()
    assert notices.run(database, _mail(port)).summary() == "nothing to notify"
    assert len(inbox.mails) == 2


def test_a_server_that_cannot_be_reached_leaves_every_case_pending(database, staff) -> None:
    cases = {_case(database, pending=True), _case(database, pending=True, assigned=staff["bea"])}
    with pytest.raises(notices.NotifyError, match=r"cannot use the mail server .*2 case\(s\) stay pending"):
        notices.run(database, _mail(free_port()))
    assert _pending(database) == cases


def test_a_refused_recipient_keeps_only_the_cases_meant_for_them_pending(database, staff, smtp) -> None:
    inbox, port = smtp
    inbox.refuse.add("admin@example.org")
    mine = _case(database, pending=True, assigned=staff["bea"])
    everyones = _case(database, pending=True)
    with pytest.raises(notices.NotifyError, match="refused"):
        notices.run(database, _mail(port))
    assert inbox.to() == ["bea@example.org"]
    assert _pending(database) == {everyones}
    assert mine not in _pending(database)


def test_with_nobody_to_mail_cases_stay_pending_and_it_says_so(database, staff, smtp) -> None:
    _, port = smtp
    with database.session() as session:
        session.execute(update(Caseworker).values(email=None))
    case_id = _case(database, pending=True)
    outcome = notices.run(database, _mail(port))
    assert "1 case(s) stay pending: no enabled staff member has an email address" in outcome.summary()
    assert _pending(database) == {case_id}


@pytest.mark.slow
def test_the_cron_command(env, database, staff, smtp) -> None:
    inbox, port = smtp
    _case(database, pending=True)
    mail_env = {**env, "RRI_SMTP_HOST": "127.0.0.1", "RRI_SMTP_FROM": "desk@example.org"}
    failed = run_cli({**mail_env, "RRI_SMTP_PORT": str(free_port())}, "notify")
    assert_one_line_error(failed, "cannot use the mail server", "1 case(s) stay pending for the next run")
    result = run_cli({**mail_env, "RRI_SMTP_PORT": str(port)}, "notify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent 2 notice(s); 1 case(s) cleared"
    assert b"From: desk@example.org" in inbox.mails[0][1]
    assert_one_line_error(run_cli({**mail_env, "RRI_SMTP_PORT": "smtp"}, "notify"), "RRI_SMTP_PORT")


def test_the_app_thread_runs_only_when_an_interval_is_set(settings, database, staff, smtp) -> None:
    inbox, port = smtp
    assert caseworker.create_app(settings, database).extensions["rri.desk"].stops[1:] == []
    _case(database, pending=True, assigned=staff["bea"])
    mail = MailSettings(host="127.0.0.1", port=port)
    app = caseworker.create_app(dataclasses.replace(settings, notify_interval=1, mail=mail), database)
    stop = app.extensions["rri.desk"].stops[-1]
    try:
        deadline = time.monotonic() + 10
        while not inbox.mails and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert inbox.to() == ["bea@example.org"]
    with pytest.raises(ConfigError, match="RRI_NOTIFY_INTERVAL"):
        Settings.from_env({"RRI_NOTIFY_INTERVAL": "soon"})
