"""Configuration defaults are the safe ones; secrets are created private to their owner."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cases.config import VARIABLES, ConfigError, Settings, create_secret, read_secret, readme_table
from crypto.kdf import PRODUCTION


def test_production_argon2_is_at_least_rfc9106_second_recommendation() -> None:
    settings = Settings.from_env({"RRI_HOME": "/tmp/x"})
    assert settings.argon2 == PRODUCTION
    assert (PRODUCTION.time_cost, PRODUCTION.memory_kib, PRODUCTION.parallelism) >= (3, 64 * 1024, 4)


def test_pepper_lives_outside_the_database_and_is_private(tmp_path) -> None:
    settings = Settings.from_env({"RRI_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'reprisals.db'}"
    assert create_secret(settings.pepper_file) is True
    assert create_secret(settings.pepper_file) is False  # never overwritten
    assert stat.S_IMODE(settings.pepper_file.stat().st_mode) == 0o600
    assert len(settings.pepper()) == 32


def test_missing_or_short_secrets_say_what_to_do(tmp_path) -> None:
    with pytest.raises(ConfigError, match="reprisals init"):
        read_secret(tmp_path / "nope", "the token pepper")
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(ConfigError, match="32 random bytes"):
        read_secret(tmp_path / "short", "the token pepper")


def test_the_readme_table_is_the_one_the_code_reads() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, "README's table of variables is stale: paste `reprisals settings`"


def test_settings_read_only_listed_variables() -> None:
    """Every variable named in the code is in VARIABLES (so in the README), and each is read."""
    root = Path(__file__).resolve().parent.parent
    named = set()
    for folder in ("cases", "crypto", "intake", "caseworker", "cli", "deploy"):
        for path in (root / folder).rglob("*.py"):
            named |= set(re.findall(r"\b(?:RRI_[A-Z0-9_]+|DATABASE_URL)\b", path.read_text(encoding="utf-8")))
    listed = {v.name for v in VARIABLES}
    assert named - listed == set(), "variables used but not listed"
    assert listed - named == set(), "variables listed but never read"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RRI_STATS_MIN_COUNT", "2"),
        ("RRI_STATS_MIN_COUNT", "five"),
        ("RRI_STALE_ACK_DAYS", "0"),
        ("RRI_SECURE_COOKIES", "yes"),
        ("RRI_SMTP_PORT", "smtp"),
        ("RRI_SMTP_FROM", "a@b, c@d"),
        ("RRI_NOTIFY_INTERVAL", "soon"),
        ("RRI_RETENTION_DAYS", "-1"),
        ("RRI_POW_BITS", "31"),
        ("RRI_DESK_HOST", "http://desk/"),
    ],
)
def test_a_bad_value_is_refused_at_start_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.slow
@pytest.mark.parametrize("app", ["intake", "caseworker"])
def test_gunicorn_entry_points_stop_with_one_line(app: str, tmp_path: Path) -> None:
    env = {**os.environ, "RRI_HOME": str(tmp_path), "RRI_STATS_MIN_COUNT": "1"}
    result = subprocess.run(
        [sys.executable, "-c", f"import {app}.wsgi"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0 and "RRI_STATS_MIN_COUNT" in result.stderr
