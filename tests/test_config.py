"""Configuration defaults are the safe ones; secrets are created private to their owner."""

from __future__ import annotations

import stat

import pytest

from cases.config import ConfigError, Settings, create_secret, read_secret
from crypto.kdf import PRODUCTION


def test_production_argon2_is_at_least_rfc9106_second_recommendation() -> None:
    settings = Settings.from_env({"RRI_HOME": "/tmp/x"})
    assert settings.argon2 == PRODUCTION
    assert (PRODUCTION.time_cost, PRODUCTION.memory_kib, PRODUCTION.parallelism) >= (3, 64 * 1024, 4)


def test_pepper_lives_outside_the_database_and_is_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"RRI_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'reprisals.db'}"
    assert create_secret(settings.pepper_file) is True
    assert create_secret(settings.pepper_file) is False  # never overwritten
    assert stat.S_IMODE(settings.pepper_file.stat().st_mode) == 0o600
    assert len(settings.pepper()) == 32


def test_missing_or_short_secrets_say_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="reprisals init"):
        read_secret(tmp_path / "nope", "the token pepper")
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(ConfigError, match="32 random bytes"):
        read_secret(tmp_path / "short", "the token pepper")
