"""Settings: one typed object, read and checked once when a process starts.

``VARIABLES`` is the single source of truth: ``Settings.from_env`` reads nothing it does not list,
takes its defaults from it, and the README's table is generated from it (``reprisals settings``,
checked by tests/test_config.py). A bad value stops the process with one line naming the variable.

Everything lives under one instance directory (``RRI_HOME``, default ``./instance``): the SQLite
database, the blob store and the secrets that must stay outside the database (the token pepper,
each app's cookie-signing key). Each may be moved with its own variable so the apps can run on
different hosts sharing only the database and the blob store.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from crypto.kdf import PRODUCTION, TESTING, Argon2Params

from .errors import ConfigError as ConfigError

ARGON2_PROFILES = {"production": PRODUCTION, "testing": TESTING}
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # as the README shows it; "" means unset
    meaning: str
    used_by: str = "both apps"


VARIABLES: tuple[Variable, ...] = (
    Variable("RRI_HOME", "./instance", "instance folder"),
    Variable("DATABASE_URL", "sqlite:///$RRI_HOME/reprisals.db", "or `postgresql://...`"),
    Variable("RRI_BLOB_DIR", "$RRI_HOME/blobs", "sealed attachment chunks"),
    Variable(
        "RRI_PEPPER_FILE", "$RRI_HOME/pepper", "token pepper: keep outside the database and its backups", "intake"
    ),
    Variable("RRI_INTAKE_SECRET_FILE", "$RRI_HOME/intake-secret", "the intake's cookie-signing key", "intake"),
    Variable("RRI_CASEWORKER_SECRET_FILE", "$RRI_HOME/caseworker-secret", "the desk's cookie-signing key", "desk"),
    Variable(
        "RRI_ARGON2",
        "production",
        "`production` = RFC 9106 second recommended setting; `testing` only for the test suite. "
        "Token cost is fixed at `init`.",
    ),
    Variable("RRI_MAX_FILE_MB", "50", "largest file a reporter may send (explained to reporters when hit)", "intake"),
    Variable("RRI_MAX_TOTAL_MB", "200", "largest total of one report's files", "intake"),
    Variable("RRI_MAX_FILES", "20", "most files in one report", "intake"),
    Variable("RRI_POW_BITS", "12", "proof-of-work difficulty at rest (0–30); it rises by itself under load", "intake"),
    Variable(
        "RRI_ARGON2_SLOTS",
        "2",
        "concurrent token derivations (intake) or password checks (desk) before answering 503 + Retry-After",
    ),
    Variable(
        "RRI_DESK_HOST",
        "",
        "the desk's own host name (`serve`: localhost); it refuses requests for any other (421). "
        "Must differ from the intake's",
    ),
    Variable("RRI_INTAKE_HOST", "", "the intake's host name (`serve`: 127.0.0.1), checked against `RRI_DESK_HOST`"),
    Variable(
        "RRI_EMERGENCY_CONTACTS",
        "",
        "JSON file of the emergency contacts shown to reporters in danger, by language (README "
        '"Emergency contacts"; the first format `[{"name": "...", "contact": "..."}]` still works; unset: the '
        "built-in entry; check it before going live)",
        "intake",
    ),
    Variable(
        "RRI_SECURE_COOKIES",
        "0",
        "`1` to mark the CSRF cookie and the desk's session and device cookies Secure (HTTPS deployments; "
        "onion services are plain HTTP)",
    ),
    Variable("RRI_STALE_ACK_DAYS", "7", "inbox flags a case not acknowledged within this many days", "desk"),
    Variable("RRI_STALE_IDLE_DAYS", "30", "inbox flags a case (unless closed) idle for this many days", "desk"),
    Variable(
        "RRI_RETENTION_DAYS",
        "365",
        "`reprisals retention` deletes closed cases this many days after closing. Backups still hold their "
        "sealed envelopes, which the intake keys open: rotate backups to match.",
        "cli",
    ),
    Variable("RRI_STATS_MIN_COUNT", "5", 'public statistics show smaller counts as "<k" (3–1000)', "desk"),
    Variable("RRI_SMTP_HOST", "127.0.0.1", "mail server for content-free notices", "desk, cli"),
    Variable("RRI_SMTP_PORT", "25", "its port", "desk, cli"),
    Variable("RRI_SMTP_FROM", "desk@localhost", "sender address of notices", "desk, cli"),
    Variable("RRI_SMTP_STARTTLS", "0", "`1` to require STARTTLS", "desk, cli"),
    Variable("RRI_DESK_URL", "", "link put in notices", "desk, cli"),
    Variable(
        "RRI_NOTIFY_INTERVAL",
        "",
        "seconds; the desk app then sends notices from a background thread (prefer cron with several workers)",
        "desk",
    ),
    Variable("RRI_INTAKE_BIND", "0.0.0.0:8080", "gunicorn: the intake's address", "deploy/gunicorn_intake.py"),
    Variable("RRI_INTAKE_WORKERS", "2", "gunicorn: intake worker processes", "deploy/gunicorn_intake.py"),
    Variable(
        "RRI_INTAKE_THREADS",
        "32",
        "gunicorn: threads per intake worker, so requests beyond the argon2 slots get 503 at once",
        "deploy/gunicorn_intake.py",
    ),
    Variable("RRI_CASEWORKER_BIND", "0.0.0.0:8081", "gunicorn: the desk's address", "deploy/gunicorn_caseworker.py"),
)
_BY_NAME = {variable.name: variable for variable in VARIABLES}


def readme_table() -> str:
    """The README's table of variables, generated so that it cannot drift from the code."""
    rows = ["| Variable | Default | Used by | Meaning |", "| --- | --- | --- | --- |"]
    for v in VARIABLES:
        default = f"`{v.default}`" if v.default else "unset"
        rows.append(f"| `{v.name}` | {default} | {v.used_by} | {v.meaning} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class MailSettings:
    """Where content-free notices go (cases/notices)."""

    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "desk@localhost"
    starttls: bool = False
    desk_url: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    blob_dir: Path
    pepper_file: Path
    argon2: Argon2Params
    intake_secret_file: Path
    caseworker_secret_file: Path
    # Reporter-side limits, explained to reporters in plain words when hit.
    max_file_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 200 * 1024 * 1024
    max_files: int = 20
    # Abuse control without tracking: proof-of-work bits at rest, and concurrent argon2 runs.
    pow_bits: int = 12
    argon2_slots: int = 2
    emergency_contacts_file: Path | None = None
    # The host names each app answers on. Browsers keep cookies per host name, not per port, so
    # the desk must never share one with the intake; the desk refuses requests for any other host.
    desk_host: str | None = None
    intake_host: str | None = None
    secure_cookies: bool = False
    stale_ack_days: int = 7
    stale_idle_days: int = 30
    retention_days: int = 365
    stats_min_count: int = 5
    mail: MailSettings = field(default_factory=MailSettings)
    notify_interval: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = _Reader(os.environ if env is None else env)
        home = Path(read.text("RRI_HOME")).resolve()
        profile = read.text("RRI_ARGON2")
        if profile not in ARGON2_PROFILES:
            raise ConfigError(f"RRI_ARGON2 must be one of {', '.join(ARGON2_PROFILES)}, not {profile!r}")
        sender = read.text("RRI_SMTP_FROM")
        if not _ADDRESS.match(sender):
            raise ConfigError(f"RRI_SMTP_FROM must be one plain address, not {sender!r}")
        return cls(
            home=home,
            database_url=read.text("DATABASE_URL", home=home),
            blob_dir=read.path("RRI_BLOB_DIR", home),
            pepper_file=read.path("RRI_PEPPER_FILE", home),
            argon2=ARGON2_PROFILES[profile],
            intake_secret_file=read.path("RRI_INTAKE_SECRET_FILE", home),
            caseworker_secret_file=read.path("RRI_CASEWORKER_SECRET_FILE", home),
            max_file_bytes=read.integer("RRI_MAX_FILE_MB") * 1024 * 1024,
            max_total_bytes=read.integer("RRI_MAX_TOTAL_MB") * 1024 * 1024,
            max_files=read.integer("RRI_MAX_FILES"),
            pow_bits=read.integer("RRI_POW_BITS", low=0, high=30),
            argon2_slots=read.integer("RRI_ARGON2_SLOTS"),
            emergency_contacts_file=read.optional_path("RRI_EMERGENCY_CONTACTS"),
            desk_host=read.host("RRI_DESK_HOST"),
            intake_host=read.host("RRI_INTAKE_HOST"),
            secure_cookies=read.flag("RRI_SECURE_COOKIES"),
            stale_ack_days=read.integer("RRI_STALE_ACK_DAYS", high=3650),
            stale_idle_days=read.integer("RRI_STALE_IDLE_DAYS", high=3650),
            retention_days=read.integer("RRI_RETENTION_DAYS"),
            stats_min_count=read.integer("RRI_STATS_MIN_COUNT", low=3, high=1000),
            mail=MailSettings(
                host=read.text("RRI_SMTP_HOST"),
                port=read.integer("RRI_SMTP_PORT", high=65535),
                sender=sender,
                starttls=read.flag("RRI_SMTP_STARTTLS"),
                desk_url=" ".join(read.text("RRI_DESK_URL").split()),
            ),
            notify_interval=read.optional_integer("RRI_NOTIFY_INTERVAL"),
        ).checked()

    def checked(self) -> Settings:
        if self.desk_host and self.desk_host == self.intake_host:
            raise ConfigError(
                "RRI_DESK_HOST and RRI_INTAKE_HOST are the same host name; browsers would hand the desk's "
                "session cookie to the intake. Give the desk its own host name."
            )
        return self

    def pepper(self) -> bytes:
        return read_secret(self.pepper_file, "the token pepper")


class _Reader:
    """Reads only listed variables, with the listed defaults; each refusal names its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str:
        default = _BY_NAME[name].default  # KeyError here is a programming error: list it first
        value = self._env.get(name, "").strip()
        return value or default

    def text(self, name: str, home: Path | None = None) -> str:
        value = self._raw(name)
        return value.replace("$RRI_HOME", str(home)) if home is not None else value

    def path(self, name: str, home: Path) -> Path:
        return Path(self.text(name, home=home))

    def optional_path(self, name: str) -> Path | None:
        value = self._raw(name)
        return Path(value) if value else None

    def flag(self, name: str) -> bool:
        value = self._raw(name)
        if value not in ("0", "1"):
            raise ConfigError(f"{name} must be 1 (on) or 0 (off), not {value!r}")
        return value == "1"

    def integer(self, name: str, low: int = 1, high: int = 1_000_000) -> int:
        raw = self._raw(name)
        if not raw.isascii() or not raw.isdigit():
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
        value = int(raw)
        if not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
        return value

    def optional_integer(self, name: str) -> int | None:
        return self.integer(name) if self._raw(name) else None

    def host(self, name: str) -> str | None:
        raw = self._raw(name)
        if not raw:
            return None
        value = host_name(raw)
        if value is None:
            raise ConfigError(f"{name} must be a host name such as desk.example.org, not {raw!r}")
        return value


def host_name(value: str) -> str | None:
    """The lower-case host name of a Host header or setting ("Desk.Example:8081" -> "desk.example");
    None if it is not one."""
    if not value or len(value) > 255 or any(ch.isspace() or ord(ch) < 33 or ord(ch) > 126 for ch in value):
        return None
    try:
        parts = urlsplit("//" + value)
        name = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if not name or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return name


def read_secret(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} is missing ({path}); run 'reprisals init' first") from None
    if len(data) < 32:
        raise ConfigError(f"{what} at {path} is too short; it must hold 32 random bytes")
    return data


def create_secret(path: Path) -> bool:
    """Write 32 random bytes readable only by the owner; False if the file already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return True
