"""The container files, checked by reading them (no container engine runs in the test suite)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sla_sandbox.standins.server import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = "postgresql://sla:sla@db:5432/sla"
# name:MAJOR.MINOR.PATCH[-variant][@sha256:digest]
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+(?:-[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """Each stage's resolved base image and its instructions; global ARG defaults applied."""
    args: dict[str, str] = {}
    found: list[tuple[str, list[tuple[str, str]]]] = []
    for word, rest in instructions():
        if word == "ARG" and not found and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], rest.split()[0])
            found.append((image, []))
        elif found:
            found[-1][1].append((word, rest))
    return found


def final(word: str) -> list[str]:
    return [rest for w, rest in stages()[-1][1] if w == word]


def test_the_dockerfile_is_multi_stage_on_exactly_pinned_images() -> None:
    images = [image for image, _ in stages()]
    assert len(images) >= 2
    for image in images:
        assert "latest" not in image
        assert PINNED.match(image), f"{image} is not pinned to a patch version"
    assert any("--from=builder" in rest and "/opt/venv" in rest for rest in final("COPY")), (
        "the runtime stage copies only the built venv"
    )


def test_the_runtime_stage_runs_as_a_fixed_non_root_user() -> None:
    users = final("USER")
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_healthcheck_entrypoint_and_port() -> None:
    (healthcheck,) = final("HEALTHCHECK")
    assert "/healthz" in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    assert json.loads(final("ENTRYPOINT")[-1]) == ["sla-bot"]
    assert json.loads(final("CMD")[-1]) == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert final("EXPOSE") == ["8000"]
    env = " ".join(final("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sla-bot"] == "app.cli.main:main"  # the ENTRYPOINT is the console script


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_the_healthcheck_command_probes_healthz(status: int, exit_code: int) -> None:
    (healthcheck,) = final("HEALTHCHECK")
    argv = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    seen: list[str] = []

    async def healthz(request: Request) -> Response:
        seen.append(request.url.path)
        return Response(status_code=status)

    with LoopbackServer(Starlette(routes=[Route("/healthz", healthz)])) as server:
        code = argv[2].replace("http://127.0.0.1:8000", server.url)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert (run.returncode != 0) == bool(exit_code)
    assert seen == ["/healthz"]


@pytest.mark.parametrize("path", [".env", ".git", "sla-bot.db", "prod.db", ".venv", "tests"])
def test_dockerignore_keeps_secrets_and_state_out_of_the_context(path: str) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(fnmatch(path, pattern) for pattern in patterns)
    assert not any(p.startswith("!") for p in patterns)


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_runs_postgres_with_a_healthcheck_and_a_named_volume() -> None:
    doc = compose()
    db = doc["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in doc["volumes"]
    env = db["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == ("sla",) * 3


def test_compose_runs_two_app_replicas_on_one_database() -> None:
    services = compose()["services"]
    apps = {
        name: s
        for name, s in services.items()
        if s.get("build") or s.get("image", "").startswith("sla-bot")
    }
    replicas = sum(s.get("deploy", {}).get("replicas", 1) for s in apps.values())
    assert replicas == 2
    for service in apps.values():
        assert service["environment"]["DATABASE_URL"] == DATABASE_URL
        assert service["env_file"] in (".env", [".env"])
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
    published = [p.rsplit(":", 2) for s in apps.values() for p in s.get("ports", [])]
    host_ports = [port for _, port, _ in published]
    assert len(host_ports) == len(set(host_ports)), "replicas must not share a host port"
    assert {address for address, _, _ in published} == {"127.0.0.1"}  # behind a proxy
    url = urlsplit(DATABASE_URL)
    db = services[str(url.hostname)]  # the URL names the compose service...
    env = db["environment"]  # ...with the credentials and database it creates
    assert (url.username, url.password, url.path) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        "/" + env["POSTGRES_DB"],
    )
