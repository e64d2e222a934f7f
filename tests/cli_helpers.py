"""Running the real ``reprisals`` command in a subprocess, as a person would."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ADMIN_PASSWORD


def run_cli(env: dict[str, str], *args: str, stdin: str = "", cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def init(env: dict[str, str]) -> subprocess.CompletedProcess:
    result = run_cli(env, "init", stdin=ADMIN_PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
