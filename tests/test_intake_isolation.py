"""The intake app cannot reach any private key.

Four independent checks, each of which would catch a regression the others might miss:
1. its source never imports the caseworker app or any module that handles private keys;
2. after building the app and serving every route, none of those modules is even loaded;
3. serving every route never sends SQL that touches key wraps or caseworker accounts;
4. on PostgreSQL, the app works under a database role that has no access to those tables at
   all (deploy/postgres-intake-role.sql), so a compromised intake host cannot read them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import ProgrammingError

import intake
from cases.db import Database

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("caseworker", "cases.keyring", "cases.installation", "crypto.passwords", "crypto.keywrap", "cli")
KEY_TABLES = ("wrapped_keys", "caseworkers", "staff_sessions")


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def _get_routes(app) -> list[str]:
    return [r.rule for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]


def _imports(folder: str) -> list[tuple[str, str]]:
    """(file name, module or module.name) for every absolute import under ``folder``."""
    found = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(path.name, n) for n in names]
    return found


def test_intake_source_imports_nothing_that_holds_keys() -> None:
    assert [f"{file}: {name}" for file, name in _imports("intake") if _is_forbidden(name)] == []


def test_intake_is_a_web_shell_over_cases() -> None:
    """SQL, cryptography and password hashing live in cases/ and crypto/, never in the app."""
    below = ("sqlalchemy", "cryptography", "crypto", "argon2")
    offenders = [f"{file}: {name}" for file, name in _imports("intake") if name.split(".")[0] in below]
    assert offenders == []


@pytest.mark.slow
def test_serving_intake_never_loads_key_handling_modules(env, installed) -> None:
    script = """
import json, sys
import intake
app = intake.create_app()
client = app.test_client()
rules = [r.rule for r in app.url_map.iter_rules() if "GET" in r.methods and not r.arguments]
statuses = {rule: client.get(rule).status_code for rule in rules}
print(json.dumps({"modules": sorted(sys.modules), "statuses": statuses}))
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["statuses"]["/health"] == 200
    loaded = [m for m in result["modules"] if _is_forbidden(m)]
    assert loaded == [], f"intake loaded {loaded}"


def test_intake_sends_no_sql_touching_keys_or_staff(settings, database, installed) -> None:
    statements: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *a: statements.append(a[2].lower()))
    app = intake.create_app(settings, database)
    client = app.test_client()
    for rule in _get_routes(app):
        client.get(rule)
    assert any("intake_keys" in s for s in statements), "the check must see intake's own queries"
    touched = [s for s in statements if any(t in s for t in KEY_TABLES)]
    assert touched == []


GRANTS = ROOT / "deploy" / "postgres-intake-role.sql"


@pytest.mark.skipif("postgres" not in __import__("os").environ.get("RRI_TEST_DB", ""), reason="PostgreSQL only")
def test_intake_runs_under_a_role_that_cannot_read_keys(
    settings, database, installed, database_url, monkeypatch
) -> None:
    import dataclasses
    import re
    import secrets

    from cases import proof_of_work as pow_module

    monkeypatch.setattr(pow_module, "MIN_FORM_SECONDS", 0)

    schema = database_url.rsplit("%3D", 1)[1]
    role = f"intake_{secrets.token_hex(4)}"
    sql = GRANTS.read_text().replace(":schema", f'"{schema}"').replace(":role", f'"{role}"')
    with database.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(sql))
    restricted = create_engine(database_url.replace("postgres@", f"{role}@"))
    try:
        app = intake.create_app(dataclasses.replace(settings, pow_bits=0), Database(restricted))
        client = app.test_client()
        assert client.get("/health").status_code == 200
        assert client.get("/intake-key").status_code == 200
        # The whole reporter journey works under the restricted role.
        fields = dict(
            re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', client.get("/en/").get_data(as_text=True))
        )
        receipt = client.post("/en/report", data={**fields, "what_happened": "restricted role"}).get_data(as_text=True)
        token = re.sub(r"\D", "", re.search(r'id="token"[^>]*>(.*?)</p>', receipt, re.S).group(1))
        for path, extra in (
            ("/en/status", {}),
            ("/en/status/message", {"message": "more"}),
            ("/en/status/delete", {"confirm": "1"}),
        ):
            page = client.get("/en/status").get_data(as_text=True)
            fields = dict(re.findall(r'name="(csrf|challenge)" value="([^"]*)"', page))
            response = client.post(path, data={**fields, "token": token, **extra})
            assert response.status_code == 200, response.get_data(as_text=True)
        for table in KEY_TABLES:
            with restricted.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(f"SELECT * FROM {table}"))
    finally:
        restricted.dispose()
        with database.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
