"""Content-free email notices: "there is new activity on the desk", nothing more.

Intake sets ``Case.notify_pending`` when an urgent report or a reporter's message arrives. This
module, run by ``reprisals notify`` from cron (or by a thread the desk app starts when
RRI_NOTIFY_INTERVAL is set), mails the people who should look: the assigned caseworker, or every
enabled admin and caseworker with an address if nobody is assigned (or the assignee cannot be
mailed). Mail crosses servers we do not control, so the subject and body are fixed text: no case
id, no country, no count, nothing a reporter wrote. One message per recipient per run.

Flags are cleared only for cases whose every recipient's message was accepted by the SMTP
server, and only for the cases read at the start of the run, so activity arriving meanwhile is
announced by the next run. If sending fails the flags stay set and the next run tries again.

Settings: RRI_SMTP_HOST (127.0.0.1), RRI_SMTP_PORT (25), RRI_SMTP_FROM (desk@localhost),
RRI_SMTP_STARTTLS (1 to upgrade the connection, verifying the certificate), RRI_DESK_URL
(optional link in the body), RRI_NOTIFY_INTERVAL (seconds; the app's thread, off by default).
With several gunicorn workers each would start a thread: prefer cron there.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import errors
from .config import MailSettings
from .db import Database
from .models import Case, Caseworker, Role

SUBJECT = "Caseworker desk: new activity"
BODY = "There is new activity on the caseworker desk that needs your attention."
NOTICE_ROLES = (Role.ADMIN, Role.CASEWORKER)
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
log = logging.getLogger("rri.notify")


class NotifyError(errors.DomainError):
    """Sending failed; the cases concerned stay pending. One line, for people."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Plan:
    """Who gets a notice, and for which cases (kept here, never put in the mail)."""

    cases: dict[str, set[str]] = field(default_factory=dict)  # case id -> addresses
    unreachable: list[str] = field(default_factory=list)  # pending, but nobody to mail

    def recipients(self) -> set[str]:
        return set().union(*self.cases.values()) if self.cases else set()


@dataclass(frozen=True)
class Outcome:
    sent: int
    cleared: int
    unreachable: int

    def summary(self) -> str:
        if not self.sent and not self.unreachable:
            return "nothing to notify"
        line = f"sent {self.sent} notice(s); {self.cleared} case(s) cleared"
        if self.unreachable:
            line += f"; {self.unreachable} case(s) stay pending: no enabled staff member has an email address"
        return line


def plan(session: Session) -> Plan:
    staff = {
        worker.id: worker.email.strip()
        for worker in session.scalars(
            select(Caseworker).where(Caseworker.disabled.is_(False), Caseworker.role.in_(NOTICE_ROLES))
        )
        if worker.email and _ADDRESS.match(worker.email.strip())
    }
    everyone = set(staff.values())
    result = Plan()
    for case_id, assigned in session.execute(select(Case.id, Case.assigned_to).where(Case.notify_pending.is_(True))):
        # An assignee who was disabled or has no address must not swallow the notice.
        to = {staff[assigned]} if assigned in staff else everyone
        if to:
            result.cases[case_id] = to
        else:
            result.unreachable.append(case_id)
    return result


def message(settings: MailSettings, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = to
    mail["Subject"] = SUBJECT
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    body = BODY + (f"\n\n{settings.desk_url}" if settings.desk_url else "") + "\n"
    mail.set_content(body)
    return mail


def _send(settings: MailSettings, recipients: set[str]) -> tuple[set[str], str]:
    """Send one message to each; returns (accepted addresses, first failure reason or "")."""
    accepted: set[str] = set()
    reason = ""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            for to in sorted(recipients):
                try:
                    smtp.send_message(message(settings, to))
                    accepted.add(to)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    reason = reason or f"the server refused a message ({type(exc).__name__})"
    except (OSError, smtplib.SMTPException) as exc:
        reason = reason or f"cannot use the mail server {settings.host}:{settings.port} ({_why(exc)})"
    return accepted, reason


def _why(exc: BaseException) -> str:
    return _one_line(str(getattr(exc, "strerror", None) or exc) or type(exc).__name__)[:200]


def run(db: Database, settings: MailSettings) -> Outcome:
    """One pass; raises NotifyError (after clearing what did go out) if any message failed."""
    with db.session() as session:
        todo = plan(session)
    accepted, reason = _send(settings, todo.recipients()) if todo.cases else (set(), "")
    done = [case_id for case_id, to in todo.cases.items() if to <= accepted]
    if done:
        with db.session() as session:
            session.execute(update(Case).where(Case.id.in_(done)).values(notify_pending=False))
    if reason:
        left = len(todo.cases) - len(done)
        raise NotifyError(f"could not send every notice: {reason}; {left} case(s) stay pending for the next run")
    return Outcome(sent=len(accepted), cleared=len(done), unreachable=len(todo.unreachable))


def start_background(db: Database, settings: MailSettings, interval: int) -> threading.Event:
    """Run every ``interval`` seconds in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                run(db, settings)
            except NotifyError as exc:
                log.warning("%s", exc)
            except Exception as exc:  # a database hiccup must not kill the thread for good
                log.warning("notification run failed: %s", type(exc).__name__)

    threading.Thread(target=loop, name="rri-notify", daemon=True).start()
    return stop
