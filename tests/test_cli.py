"""The ``reprisals`` command: every subcommand works, every mistake is one clear line."""

from __future__ import annotations

import re
import socket

import pytest
from sqlalchemy import select

from cases import keyring
from cases.db import Database
from cases.models import Caseworker

from .cli_helpers import ADMIN_PASSWORD, assert_one_line_error, init, run_cli

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess

RECOVERY = re.compile(r"^\s+([A-Z2-7]{4}(?:-[A-Z2-7]{1,4})+)\s*$", re.M)


def test_init_prints_the_recovery_key_once_and_refuses_to_run_twice(env) -> None:
    first = init(env)
    assert "Intake key fingerprint:" in first.stdout
    recovery = RECOVERY.search(first.stdout)
    assert recovery, first.stdout
    again = run_cli(env, "init", stdin=ADMIN_PASSWORD + "\n")
    assert_one_line_error(again, "already initialised")
    assert recovery.group(1) not in again.stdout + again.stderr


def test_init_with_a_short_password_explains(env) -> None:
    assert_one_line_error(run_cli(env, "init", stdin="short\n"), "at least 12 characters")


def test_add_caseworker_granted_by_an_admin_can_unlock_the_intake_key(env) -> None:
    init(env)
    result = run_cli(
        env, "add-caseworker", "bea", "--grant-from", "admin", stdin=f"bea's long password\n{ADMIN_PASSWORD}\n"
    )
    assert result.returncode == 0, result.stderr
    db = Database(env["DATABASE_URL"])
    with db.session() as session:
        bea = session.scalars(select(Caseworker).where(Caseworker.username == "bea")).one()
        assert len(keyring.unlock(session, bea, "bea's long password").intake) == 1
    db.engine.dispose()


def test_add_caseworker_mistakes_change_nothing(env) -> None:
    init(env)
    wrong = run_cli(
        env, "add-caseworker", "bea", "--grant-from", "admin", stdin="bea's long password\nnope nope nope\n"
    )
    assert_one_line_error(wrong, "wrong password")
    typo = run_cli(env, "add-caseworker", "bea", "--recovery", stdin="bea's long password\nAAAA-BBBB-CCCC\n")
    assert_one_line_error(typo, "recovery key")
    nobody = run_cli(env, "add-caseworker", "bea", "--grant-from", "ghost", stdin="bea's long password\n")
    assert_one_line_error(nobody, "no active caseworker named 'ghost'")
    duplicate = run_cli(env, "add-caseworker", "admin", stdin="another long password\n")
    assert_one_line_error(duplicate, "already exists")
    db = Database(env["DATABASE_URL"])
    with db.session() as session:
        assert session.scalars(select(Caseworker.username)).all() == ["admin"]
    db.engine.dispose()


def test_add_caseworker_with_the_recovery_key(env) -> None:
    recovery = RECOVERY.search(init(env).stdout).group(1)
    result = run_cli(
        env,
        "add-caseworker",
        "rescue",
        "--role",
        "admin",
        "--recovery",
        stdin=f"rescue long password\n{recovery.lower()}\n",
    )
    assert result.returncode == 0, result.stderr


def test_rotate_intake_key_changes_what_intake_serves(env) -> None:
    init(env)
    result = run_cli(env, "rotate-intake-key")
    assert result.returncode == 0, result.stderr
    assert "New intake key:" in result.stdout


def test_commands_before_init_say_what_to_do(env) -> None:
    assert_one_line_error(run_cli(env, "serve"), "reprisals init")
    assert_one_line_error(run_cli(env, "rotate-intake-key"), "reprisals init")
    assert_one_line_error(run_cli(env, "add-caseworker", "bea", stdin="bea's long password\n"), "reprisals init")


def test_an_unreachable_database_is_one_line(env) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**env, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/none"}
    assert_one_line_error(run_cli(env, "upgrade"), "cannot use the database")


def test_bad_configuration_is_one_line(env) -> None:
    assert_one_line_error(run_cli({**env, "RRI_ARGON2": "fast"}, "init", stdin="x\n"), "RRI_ARGON2")


def test_demo_sets_up_sample_cases_and_prints_a_login(env, tmp_path) -> None:
    demo_env = {k: v for k, v in env.items() if k not in ("RRI_HOME", "DATABASE_URL")}
    for _ in range(2):  # running it again rebuilds the demo
        result = run_cli(demo_env, "demo", "--no-serve", cwd=str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "Caseworker login:  user 'demo'" in result.stdout
        assert re.search(r"A reporter token:\s+\d{4}( \d{4}){4}", result.stdout)
    db = Database(f"sqlite:///{tmp_path / 'demo-instance' / 'reprisals.db'}")
    with db.session() as session:
        from sqlalchemy import func

        from cases.models import Case

        assert session.scalar(select(func.count()).select_from(Case)) == 3
    db.engine.dispose()


def test_demo_never_touches_a_real_installation(env) -> None:
    init(env)
    real = {**env}
    real.pop("DATABASE_URL")
    result = run_cli(real, "demo", "--no-serve")
    assert_one_line_error(result, "not a demo")
