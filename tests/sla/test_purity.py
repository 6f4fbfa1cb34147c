"""The core stays pure: nothing in app/sla imports a store, a network client or the app's
outer packages, so every decision can be tested as data in, changes out."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "app" / "sla"
OUTSIDE = (
    "app.github",
    "app.store",
    "app.engine",
    "app.jobs",
    "app.http",
    "app.notify",
    "app.webhooks",
    "app.slack_threads",
    "app.phone",
    "app.reports",
    "app.cli",
    "app.services",
    "aiohttp",
    "httpx",
    "gidgethub",
    "sqlalchemy",
    "slack_sdk",
)


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_module_of_the_core_imports_io_or_the_packages_around_it() -> None:
    offending = {
        f"{path.relative_to(CORE.parents[1])}: {name}"
        for path in CORE.rglob("*.py")
        for name in imported(path)
        if name.startswith(OUTSIDE)
    }
    assert not offending, sorted(offending)
