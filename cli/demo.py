"""``reprisals demo``: a throw-away installation with sample cases, to try the system out.

It lives in its own folder (``./demo-instance`` unless RRI_HOME says otherwise), marked as a demo
so that running it again may wipe and rebuild it without ever touching a real installation.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
from pathlib import Path

from cases import audit, installation, reports, tokens
from cases.blobs import FilesystemBlobStore
from cases.config import Settings
from cases.intake_keys import current
from cases.models import SealedIn
from crypto import token
from crypto.envelope import Purpose, seal
from crypto.stream import seal_file

from .main import host_names, open_database, print_recovery
from .prompts import UserError

MARKER = ".reprisals-demo"
DEMO_USER = "demo"

SAMPLE_REPORTS = [
    {
        "what_happened": "Two days after I spoke at the Human Rights Council, men in plain clothes came to my "
        "office and took my colleague. We do not know where he is held.",
        "act_types": ["arrest_detention", "disappearance"],
        "country": "Example Republic",
        "situation": "missing",
        "un_link": ["hrc"],
        "danger": "yes",
        "consent_act": "yes",
        "consent_publish": "anonymised",
    },
    {
        "what_happened": "After our shadow report to the treaty body, a television channel called us foreign "
        "agents and published our home addresses.",
        "act_types": ["smear_campaign", "online_harassment"],
        "country": "Example Kingdom",
        "un_link": ["treaty_body"],
        "danger": "no",
        "consent_act": "yes",
        "consent_publish": "no",
    },
    {
        "what_happened": "I was stopped at the airport on my way to the UPR pre-session and my passport was "
        "taken. I was told I may not travel.",
        "act_types": ["travel_ban"],
        "country": "Example Federation",
        "un_link": ["upr"],
        "danger": "no",
        "consent_act": "no",
    },
]


def _demo_settings(settings: Settings) -> Settings:
    if "RRI_HOME" in os.environ:
        return settings
    home = Path("demo-instance").resolve()
    return Settings.from_env({**os.environ, "RRI_HOME": str(home)})


def _reset_home(home: Path) -> None:
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise UserError(f"{home} holds an installation that is not a demo; refusing to touch it")
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    (home / MARKER).write_text("created by 'reprisals demo'; safe to delete\n")


def run_demo(args: argparse.Namespace, settings: Settings) -> None:
    settings = _demo_settings(settings)
    names = host_names(args, settings)  # a wrong option is reported before the demo is rebuilt
    if not settings.database_url.startswith("sqlite:"):
        raise UserError("the demo runs on its own SQLite file only; unset DATABASE_URL")
    _reset_home(settings.home)
    db = open_database(settings, prepare=True)
    password = secrets.token_urlsafe(12)
    blobs = FilesystemBlobStore(settings.blob_dir)
    pepper = settings.pepper()
    handed_out: list[str] = []
    with db.session() as session:
        result = installation.initialise(session, DEMO_USER, password, settings.argon2)
        audit.record(session, "installation.init", actor_id=result.admin.id, detail="demo")
        intake_public = current(session).public_key
        for number, sample in enumerate(SAMPLE_REPORTS):
            reporter_token = token.generate()
            derived = tokens.derive(session, reporter_token, pepper)
            body = json.dumps({"v": 1, "lang": "en", "answers": sample}).encode()
            filed = reports.file_report(
                session,
                envelope=seal(intake_public, Purpose.REPORT, body),
                sealed_in=SealedIn.BROWSER if number % 2 else SealedIn.SERVER,
                token_lookup=derived.lookup,
                reporter_public_key=derived.reporter.public,
                urgent=sample["danger"] == "yes",
            )
            if number == 0:
                manifest, chunks = seal_file(
                    intake_public, b"Names of witnesses (demo file)\n", "witnesses.txt", "text/plain"
                )
                reports.attach_file(session, blobs, filed.case, manifest, chunks)
            handed_out.append(reporter_token)
    print(f"Demo installation in {settings.home} with {len(SAMPLE_REPORTS)} sample cases.")
    print()
    print(f"  Caseworker login:  user {DEMO_USER!r}  password {password!r}")
    print("  (first login: leave the code empty, then scan the QR code with an authenticator app)")
    print(f"  A reporter token:  {token.format_token(handed_out[0])}")
    print_recovery(result.recovery_text)
    if args.no_serve:
        return
    from .serve import serve

    serve(settings, args.host, args.intake_port, args.caseworker_port, *names)
