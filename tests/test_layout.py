"""The floor plan is the threat model: the README's Layout table, enforced by an import scan.

Each rule keeps a secret where it belongs. The intake never reaches a private key or raw SQL
(it asks ``cases`` for capabilities), the desk and the intake never share code that could carry a
session across origins, the domain runs without a web framework, and the primitives stand alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"crypto", "cases", "web", "intake", "caseworker", "cli"}
WEB_FRAMEWORK = {"flask", "werkzeug", "flask_wtf", "flask_babel", "wtforms", "jinja2"}
CRYPTO_OR_SQL = {"crypto", "cryptography", "argon2", "sqlalchemy", "psycopg", "alembic"}

# package -> the top-level modules it may not import
FORBIDDEN: dict[str, set[str]] = {
    "crypto": OURS - {"crypto"},
    "cases": WEB_FRAMEWORK | {"web", "intake", "caseworker", "cli"},
    "web": CRYPTO_OR_SQL | {"cases", "intake", "caseworker", "cli"},
    "intake": CRYPTO_OR_SQL | {"caseworker", "cli"},
    "caseworker": CRYPTO_OR_SQL | {"intake", "cli"},
    "cli": {"web"},
}
# The CLI serves both apps from this one module, and nowhere else imports them.
CLI_SERVES = "cli/serve.py"


def imports(path: Path) -> set[str]:
    """Top-level names of everything a module imports, at run time or for typing."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_package_imports_only_what_its_layer_may(package: str) -> None:
    broken = {}
    for path in modules(package):
        rel = str(path.relative_to(ROOT))
        forbidden = FORBIDDEN[package] | ({"intake", "caseworker"} if rel != CLI_SERVES and package == "cli" else set())
        bad = imports(path) & forbidden
        if bad:
            broken[rel] = sorted(bad)
    assert broken == {}, f"layer rule broken: {broken}"


def test_the_scan_sees_imports_hidden_in_functions_and_type_checking(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\n"
        "def f():\n    from sqlalchemy import select\n    import crypto.envelope\nfrom . import sibling\n"
    )
    assert imports(sample) == {"typing", "flask", "sqlalchemy", "crypto"}


def test_the_readme_layout_names_every_package() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    for package in sorted(OURS):
        assert f"`{package}/`" in layout, f"README Layout does not explain {package}/"
