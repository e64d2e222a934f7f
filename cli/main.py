"""Entry point of the ``reprisals`` command.

Every mistake a person can make here (not initialised yet, wrong password, duplicate name, a
typo in the recovery key) ends as one plain line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cases import audit, blob_sweep, installation, keyring, migrate, notices, retention
from cases.blobs import FilesystemBlobStore
from cases.config import Settings, create_secret, host_name, readme_table
from cases.db import Database
from cases.errors import DomainError
from cases.intake_keys import NoIntakeKey, describe
from cases.models import AuditEvent, Caseworker, Role
from crypto.errors import CryptoError

from .prompts import UserError, existing_password, new_password, secret_line


def open_database(settings: Settings, *, prepare: bool = False) -> Database:
    """Connect and bring the schema to the newest migration (never losing data)."""
    if prepare:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in (settings.pepper_file, settings.intake_secret_file, settings.caseworker_secret_file):
            create_secret(path)
    db = Database(settings.database_url)
    migrate.upgrade(db.engine)
    return db


def cmd_init(args: argparse.Namespace, settings: Settings) -> None:
    db = open_database(settings, prepare=True)
    with db.session() as session:
        if installation.is_initialised(session):
            raise UserError(f"{settings.home} is already initialised; nothing was changed")
    password = new_password(args.admin)
    with db.session() as session:
        result = installation.initialise(session, args.admin, password, settings.argon2)
        audit.record(session, "installation.init", actor_id=result.admin.id)
    print(f"Initialised {settings.home}")
    print(f"Admin caseworker: {args.admin}")
    print(f"Intake key fingerprint: {result.intake_fingerprint}")
    print_recovery(result.recovery_text)


def print_recovery(text: str) -> None:
    print()
    print("RECOVERY KEY - shown this once, never stored. Print or write it down and keep it offline.")
    print("It restores access to every report if all caseworker passwords are lost.")
    print()
    print(f"    {text}")
    print()


def _find_worker(session: Session, username: str) -> Caseworker:
    worker = session.scalar(select(Caseworker).where(Caseworker.username == username))
    if worker is None or worker.disabled:
        raise UserError(f"no active caseworker named {username!r}")
    return worker


def cmd_add_caseworker(args: argparse.Namespace, settings: Settings) -> None:
    db = open_database(settings)
    role = Role(args.role)
    password = new_password(args.username)
    with db.session() as session:
        if not installation.is_initialised(session):
            raise UserError("not initialised yet: run 'reprisals init' first")
        ring = None
        if args.recovery:
            ring = keyring.unlock_with_recovery(session, secret_line("Recovery key: "))
        elif args.grant_from:
            granter = _find_worker(session, args.grant_from)
            ring = keyring.unlock(session, granter, existing_password(args.grant_from))
        worker = installation.create_caseworker(session, args.username, password, role, settings.argon2)
        granted = keyring.grant(session, ring, worker) if ring else 0
        audit.record(session, "caseworker.add", detail=f"{worker.username} ({role.value}), {granted} key(s)")
    print(f"Added {role.value} {args.username!r}.")
    if not granted and role is not Role.ANALYST:
        print("They hold no intake key yet, so they cannot read reports until an admin grants them access.")


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> None:
    db = open_database(settings)
    with db.session() as session:
        key = installation.rotate_intake_key(session)
        audit.record(session, "intake_key.rotate", detail=key.id)
        print(f"New intake key: {describe(key)}")
    print("Earlier keys stay available to caseworkers, so existing cases remain readable.")


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> None:
    open_database(settings)
    print("Database schema is up to date.")


def cmd_verify_audit(args: argparse.Namespace, settings: Settings) -> int:
    with open_database(settings).session() as session:
        broken = audit.verify(session)
        if broken is not None:
            print(f"audit trail BROKEN at event {broken}", file=sys.stderr)
            return 1
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        latest = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    print(f"audit trail intact: {events} events")
    if latest:
        # The chain cannot show that its newest events were cut off; this hash, noted elsewhere
        # (a ticket, a printout), can.
        print(f"latest event hash: {latest}")
    return 0


def cmd_retention(args: argparse.Namespace, settings: Settings) -> None:
    days = retention.check_days(args.days) if args.days is not None else settings.retention_days
    db = open_database(settings)
    if args.dry_run:
        with db.session() as session:
            due = retention.expired(session, days)
        for case in due:
            print(f"would delete case {case.case_id}, closed on {case.closed_on}, {case.files} file(s)")
        print(f"{len(due)} closed case(s) older than {days} days; nothing was deleted (dry run)")
        return
    gone = retention.purge(db, FilesystemBlobStore(settings.blob_dir), days)
    for case in gone:
        print(f"deleted case {case.case_id}, closed on {case.closed_on}, {case.files} file(s)")
    print(f"{len(gone)} closed case(s) older than {days} days deleted")


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> None:
    grace = blob_sweep.GRACE_SECONDS if args.grace is None else args.grace
    if grace < 0:
        raise UserError("--grace must be 0 or more seconds")
    print(blob_sweep.sweep(settings.blob_dir, open_database(settings), grace).summary())


def cmd_notify(args: argparse.Namespace, settings: Settings) -> None:
    # A NotifyError is a DomainError: one line on stderr, status 2, the cases stay pending.
    print(notices.run(open_database(settings), settings.mail).summary())


def cmd_settings(args: argparse.Namespace, settings: Settings) -> None:
    # Reaching here means every variable parsed: from_env ran in main.
    print(readme_table())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from .serve import serve

    with open_database(settings).session() as session:
        if not installation.is_initialised(session):
            raise UserError("not initialised yet: run 'reprisals init' (or 'reprisals demo') first")
    serve(settings, args.host, args.intake_port, args.caseworker_port, *host_names(args, settings))


def host_names(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """The intake's and the desk's host names: options, else RRI_INTAKE_HOST / RRI_DESK_HOST, else
    the loopback pair 127.0.0.1 / localhost."""
    from .serve import DESK_NAME, INTAKE_NAME

    names = []
    for given, configured, default, option in (
        (args.intake_name, settings.intake_host, INTAKE_NAME, "--intake-name"),
        (args.desk_name, settings.desk_host, DESK_NAME, "--desk-name"),
    ):
        name = host_name(given) if given is not None else configured or default
        if name is None:
            raise UserError(f"{option} must be a host name such as localhost, not {given!r}")
        names.append(name)
    if names[0] == names[1]:
        raise UserError(
            "the intake and the desk need different host names (browsers share cookies across ports); "
            "set --intake-name and --desk-name"
        )
    return names[0], names[1]


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from .demo import run_demo

    run_demo(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reprisals", description="Secure reprisal-reporting intake")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace, Settings], int | None], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("init", cmd_init, "create the database, secrets, first intake key, recovery key and admin")
    p.add_argument("--admin", default="admin", help="the first admin's user name (default: admin)")

    p = command("add-caseworker", cmd_add_caseworker, "add a staff account")
    p.add_argument("username")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.CASEWORKER.value)
    grant = p.add_mutually_exclusive_group()
    grant.add_argument("--grant-from", metavar="ADMIN", help="give them the intake keys, unlocked by ADMIN")
    grant.add_argument("--recovery", action="store_true", help="give them the intake keys via the recovery key")

    command("rotate-intake-key", cmd_rotate, "seal new reports to a fresh intake key")
    command("upgrade", cmd_upgrade, "apply database migrations")
    command("verify-audit", cmd_verify_audit, "check the audit trail's hash chain; exit 1 if it is broken")
    p = command("retention", cmd_retention, "delete closed cases older than N days, with their files")
    p.add_argument("--days", metavar="N", help="days after closing (default: RRI_RETENTION_DAYS or 365)")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    p = command("sweep", cmd_sweep, "remove temporary files and unrecorded chunks that killed writers left")
    p.add_argument(
        "--grace",
        type=int,
        metavar="SECONDS",
        help=f"spare unrecorded chunks younger than this: a writer may still commit them ({blob_sweep.GRACE_SECONDS})",
    )
    command("notify", cmd_notify, "email content-free notices about new activity (for cron)")
    command("settings", cmd_settings, "check the environment's settings and print the table of variables")

    def server_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1", help="address both apps listen on (default: 127.0.0.1)")
        p.add_argument("--intake-port", type=int, default=8080)
        p.add_argument("--caseworker-port", type=int, default=8081)
        p.add_argument("--intake-name", help="host name reporters use (default: RRI_INTAKE_HOST or 127.0.0.1)")
        p.add_argument("--desk-name", help="the desk's own host name (default: RRI_DESK_HOST or localhost)")

    server_options(command("serve", cmd_serve, "run the intake and caseworker apps"))
    p = command("demo", cmd_demo, "set up a demo installation with sample cases, print a login, and serve it")
    server_options(p)
    p.add_argument("--no-serve", action="store_true", help="set up and print, but do not start the servers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # secrets, the SQLite file and blobs are for this account only
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        status = args.func(args, settings)
    except (DomainError, NoIntakeKey, CryptoError, ValueError) as exc:
        print(f"reprisals: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown error"
        print(f"reprisals: cannot use the database ({reason}); check DATABASE_URL", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"reprisals: a port is already in use ({exc.strerror}); choose another with --intake-port",
                file=sys.stderr,
            )
        else:
            print(f"reprisals: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
