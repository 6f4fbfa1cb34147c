"""Servers under test as real processes (`sla-bot serve`, the ceiling) and their databases."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from sla_sandbox.standins import FakeGitHub

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = ("SLA_BOT_BENCH_POSTGRES_URL", "SLA_BOT_TEST_POSTGRES_URL")
# The app's own settings: a child gets only what the benchmark sets, never the caller's.
_APP_VARS = ("GITHUB_", "SLACK_", "SLA_", "DATABASE_URL", "LOG_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_APP_VARS)}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def slabot_command(port: int) -> list[str]:
    """`sla-bot serve`, the console script installed with the package."""
    script = Path(sys.executable).with_name("sla-bot")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli.main"]
    return [*head, "serve", "--host", HOST, "--port", str(port)]


def ceiling_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


class Server:
    """A server process on 127.0.0.1:`port`, ready once GET /healthz answers 200."""

    # How the process is started: the suite's tiny runs start sla-bot from a process that has
    # imported its libraries already (tests/processes.py), not from a fresh interpreter.
    launch: Callable[..., Any] = subprocess.Popen

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int,
        env: dict[str, str],
        log: Path,
        startup_timeout: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.env = env
        self.log = log
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Server:
        with self.log.open("ab") as out:
            self.process = self.launch(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited at start-up; see {self.log}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready in {self.startup_timeout} s; see {self.log}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- databases --


@functools.cache
def postgres_url() -> str | None:
    """The PostgreSQL to use (SLA_BOT_BENCH_POSTGRES_URL, SLA_BOT_TEST_POSTGRES_URL or the
    local default), or None when it does not answer."""
    url = next((os.environ[name] for name in POSTGRES_ENV if os.environ.get(name)), None)
    url = url or DEFAULT_POSTGRES
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception:
        return None
    return url


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    """A fresh, empty schema for one run, dropped afterwards; yields its URL."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL of `kind` ("sqlite" or "postgresql") for one run."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
        return
    base = postgres_url()
    if base is None:
        raise RuntimeError("no PostgreSQL answers")
    with postgres_schema(base) as url:
        yield url


def backends() -> list[str]:
    """SQLite always; PostgreSQL when one answers."""
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


@contextlib.contextmanager
def installed_app(
    github: FakeGitHub, repo: str, slack_api_url: str, workdir: Path, name: str, **env: str
) -> Iterator[Server]:
    """`sla-bot serve` as a process against the served GitHub stand-in (`repo`
    installed, as GitHub delivers `installation.created`) and Slack at `slack_api_url`, on a
    fresh SQLite store in `workdir`; `env` adds the benchmark's own settings."""
    from bench.deliveries import APP_ID, SECRET, sign
    from sla_sandbox.standins import FAKE_TOKEN

    assert github.private_key_pem is not None
    port = free_port()
    settings = child_env(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_ID=APP_ID,
        GITHUB_PRIVATE_KEY=github.private_key_pem,
        GITHUB_API_URL=github.api_url,
        SLACK_BOT_TOKEN=FAKE_TOKEN,
        SLACK_API_URL=slack_api_url,
        DATABASE_URL=f"sqlite:///{workdir / f'{name}-{time.time_ns()}.db'}",
        SLA_SWEEP_INTERVAL="0",
        **env,
    )
    log = workdir / f"{name}.log"
    with Server(slabot_command(port), port=port, env=settings, log=log) as server:
        body = json.dumps(github.payload("installation", "created", repo)).encode()
        headers = {
            "content-type": "application/json",
            "x-github-event": "installation",
            "x-github-delivery": f"install-{time.time_ns()}",
            "x-hub-signature-256": sign(body),
        }
        httpx.post(
            f"{server.url}/webhooks/github", content=body, headers=headers
        ).raise_for_status()
        yield server
