"""Settings from the environment, with an embedded default that needs nothing installed.

Everything lives under one instance directory (``RRI_HOME``, default ``./instance``): the SQLite
database, the blob store and the secrets that must stay outside the database (the token pepper,
each app's cookie-signing key). Each may be moved with its own variable so the apps can run on
different hosts sharing only the database and the blob store.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crypto.kdf import PRODUCTION, TESTING, Argon2Params

ARGON2_PROFILES = {"production": PRODUCTION, "testing": TESTING}


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and what to do."""


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("RRI_HOME", "instance")).resolve()
        profile = env.get("RRI_ARGON2", "production")
        if profile not in ARGON2_PROFILES:
            raise ConfigError(f"RRI_ARGON2 must be one of {', '.join(ARGON2_PROFILES)}, not {profile!r}")
        return cls(
            home=home,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{home / 'reprisals.db'}",
            blob_dir=Path(env.get("RRI_BLOB_DIR", home / "blobs")),
            pepper_file=Path(env.get("RRI_PEPPER_FILE", home / "pepper")),
            argon2=ARGON2_PROFILES[profile],
            intake_secret_file=Path(env.get("RRI_INTAKE_SECRET_FILE", home / "intake-secret")),
            caseworker_secret_file=Path(env.get("RRI_CASEWORKER_SECRET_FILE", home / "caseworker-secret")),
            max_file_bytes=_megabytes(env, "RRI_MAX_FILE_MB", 50),
            max_total_bytes=_megabytes(env, "RRI_MAX_TOTAL_MB", 200),
            max_files=_integer(env, "RRI_MAX_FILES", 20),
            pow_bits=_integer(env, "RRI_POW_BITS", 12, low=0, high=30),
            argon2_slots=_integer(env, "RRI_ARGON2_SLOTS", 2),
            emergency_contacts_file=Path(env["RRI_EMERGENCY_CONTACTS"]) if env.get("RRI_EMERGENCY_CONTACTS") else None,
            desk_host=_host_name(env, "RRI_DESK_HOST"),
            intake_host=_host_name(env, "RRI_INTAKE_HOST"),
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


def _integer(env: dict[str, str], name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
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


def _host_name(env: dict[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    value = host_name(raw)
    if value is None:
        raise ConfigError(f"{name} must be a host name such as desk.example.org, not {raw!r}")
    return value


def _megabytes(env: dict[str, str], name: str, default: int) -> int:
    return _integer(env, name, default) * 1024 * 1024


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
