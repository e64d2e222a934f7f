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
        )

    def pepper(self) -> bytes:
        return read_secret(self.pepper_file, "the token pepper")


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
