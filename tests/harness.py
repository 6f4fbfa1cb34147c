"""The one test harness: the real app on loopback, signed deliveries, GitHub the stand-in."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.http.main import create_app
from app.jobs.sweep import SweepResult
from app.services import Services, build
from app.store import clocks, deliveries, queue, repos
from app.store.clocks import Clock, history
from app.store.tables import deliveries as deliveries_table
from app.store.tables import jobs as jobs_table
from app.store.tables import outbox as outbox_table
from sla_sandbox.standins import FakeGitHub, FakeSlack, LoopbackServer
from tests import processes
from tests.factories import SECRET, sign

GITHUB_URL = "https://ghe.example.test/api/v3"  # a GHES-style base: GITHUB_API_URL is honoured
WORK = [deliveries_table, outbox_table, jobs_table]  # what the app has still to do
PAYLOADS = Path(__file__).with_name("payloads")
GITHUB_PATH = "/api/v3"  # the stand-in is served GHES-style: GITHUB_API_URL's path is honoured
GITHUB_URL = "https://ghe.example.test/api/v3"  # where payloads' own URLs point
APP_ID = "123456"
INSTALLATION = 2311213
TOKEN = "ghs_" + "T" * 36
REPO = "acme/support"


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class MovableTime:
    """The app's time function in tests: time moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


Effect = Any  # an httpx.Response, a list of them, or a callable from request to response


class Call:
    """One request GitHub (the stand-in) received, and what it answered."""

    def __init__(self, request: httpx.Request, response: httpx.Response) -> None:
        self.request, self.response = request, response


class Calls(list[Call]):
    @property
    def last(self) -> Call:
        return self[-1]

    @property
    def call_count(self) -> int:
        return len(self)


class Route:
    """Scripted answers for one method and path (or path pattern): `respond`, `mock`,
    `side_effect`, `calls`, as the tests have always written them."""

    def __init__(self, method: str, path: str | re.Pattern[str], name: str | None) -> None:
        self.method, self.path, self.name = method.upper(), path, name
        self.calls = Calls()
        self.return_value: httpx.Response | None = None
        self._effect: Effect = None

    @property
    def side_effect(self) -> Effect:
        return self._effect

    @side_effect.setter
    def side_effect(self, effect: Effect) -> None:
        self._effect = iter(effect) if isinstance(effect, list | tuple) else effect

    def respond(self, status_code: int = 200, **kwargs: Any) -> Route:
        return self.mock(return_value=httpx.Response(status_code, **kwargs))

    def mock(self, side_effect: Effect = None, return_value: httpx.Response | None = None) -> Route:
        self.side_effect, self.return_value = side_effect, return_value
        return self

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def matches(self, method: str, raw_path: str, path: str) -> bool:
        if method != self.method:
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(path) is not None
        return self.path in (raw_path, path)

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        effect = self._effect
        if effect is None:
            return self.return_value
        if isinstance(effect, httpx.Response):
            return effect
        if callable(effect):
            found: httpx.Response | None = effect(request)
            return found if found is not None else self.return_value
        return next(effect)  # a list: one answer a call, in order


class Router:
    """The routes by name, and every call in order."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.calls = Calls()
        self.ordered: list[Route] = []

    def add(self, route: Route) -> Route:
        for index, known in enumerate(self.ordered):  # the same route again replaces it
            if (known.method, known.path) == (route.method, route.path):
                self.ordered[index] = route
                break
        else:
            self.ordered.append(route)
        if route.name:
            self.routes[route.name] = route
        return route


class GitHubMock:
    """GitHub for the harness: the stateful stand-in (FakeGitHub) served on loopback under a
    GHES-style /api/v3, with scripted answers (`route(...).respond(...)`, a 500, a 401, a rate
    limit) that its HTTP server gives first; every call recorded. The token exchange and
    'no policy file' are scripted in."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.base_url = fake.api_url
        self._path = urlsplit(self.base_url).path
        self.router = Router()
        self.token = self.route(
            "POST", f"/app/installations/{INSTALLATION}/access_tokens", name="token"
        ).respond(201, json={"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"})
        fake.grant_token(INSTALLATION, TOKEN, datetime(2099, 1, 1, tzinfo=UTC))
        self.files: dict[str, str] = {}  # repo -> .github/sla.yml text
        policy = Route(
            "GET", re.compile(r"/repos/[^/]+/[^/]+/contents/\.github/sla\.yml"), "policy"
        )
        self.router.add(policy.mock(side_effect=self._policy_file))
        fake.intercept(self._intercept)

    def _policy_file(self, request: httpx.Request) -> httpx.Response:
        repo = "/".join(request.url.path.split("/repos/")[1].split("/")[:2])
        if repo not in self.files:
            return httpx.Response(404, json={"message": "Not Found"})
        content = base64.b64encode(self.files[repo].encode()).decode()
        body = {"type": "file", "encoding": "base64", "content": content, "sha": "abc"}
        return httpx.Response(200, json=body)

    async def _intercept(
        self, request: Request, stand_in: Callable[[], Awaitable[Response]]
    ) -> Response:
        raw = await request.body()
        sent = httpx.Request(
            request.method, str(request.url), headers=request.headers.raw, content=raw
        )
        raw_path = (request.scope.get("raw_path") or b"").decode("latin-1").split("?")[0]
        within = (raw_path.removeprefix(self._path), request.url.path.removeprefix(self._path))
        route = next((r for r in self.router.ordered if r.matches(request.method, *within)), None)
        # A scripted answer may block (a slow GitHub): off the stand-in's event loop.
        scripted = None if route is None else await asyncio.to_thread(route.answer, sent)
        if scripted is not None:
            scripted.read()
            headers = {k: v for k, v in scripted.headers.items() if k != "content-length"}
            answer: Response = Response(scripted.content, scripted.status_code, headers)
        else:
            answer = await stand_in()
        call = Call(
            sent,
            httpx.Response(
                answer.status_code, headers=answer.headers.raw, content=bytes(answer.body)
            ),
        )
        self.router.calls.append(call)
        if route is not None:
            route.calls.append(call)
        return answer

    def calls(self, *, setup: bool = False) -> list[Call]:
        """Every GitHub API call in order; `setup` adds token exchanges and policy reads."""
        found = []
        for call in self.router.calls:
            url = str(call.request.url)
            if not setup and ("/access_tokens" in url or url.endswith("/.github/sla.yml")):
                continue
            found.append(call)
        return found

    def route(self, method: str, path: str, *, name: str | None = None) -> Route:
        return self.router.add(Route(method, path, name))


class Harness:
    """`sla-bot serve` in a thread on 127.0.0.1 with a controlled time, plus helpers."""

    def __init__(
        self,
        *,
        database_url: str,
        github: GitHubMock,
        slack: FakeSlack | None,
        time: MovableTime,
        private_key: str,
        **settings: Any,
    ) -> None:
        self.github = github
        self.slack = slack
        self.time = time
        values: dict[str, Any] = {
            "github_app_id": APP_ID,
            "github_private_key": private_key,
            "github_webhook_secret": SECRET,
            "github_api_url": github.base_url,
            "database_url": database_url,
            "sla_sweep_interval": 0,
            "sla_redeliver_interval": 0,
            "sla_reconcile_interval": 0,
            # Unpaced: these tests send hundreds of comments on a frozen clock; the pace has
            # its own test (tests/test_exactly_once.py).
            "sla_github_write_rate": 0,
        }
        if slack is not None:
            values.update(slack_bot_token=slack.token, slack_api_url=slack.api_url)
        values.update(settings)
        self.settings = Settings(**values)
        self.services: Services = build(self.settings, time=time)
        # Work runs when a delivery kicks the worker, never on a timer: a test's own
        # `sweep` is then the only other sender, and counts what it sent.
        self.services.worker.poll = 3600.0
        self.server = LoopbackServer(create_app(self.settings, services=self.services))
        self.http = httpx.Client(verify=LOOPBACK_TLS, timeout=10)

    def __enter__(self) -> Harness:
        self.server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.close()
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def deliver(
        self,
        event: str,
        data: dict[str, Any] | bytes,
        *,
        delivery: str | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
        wait: bool = True,
    ) -> httpx.Response:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        sent = {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/044aadd",
            "x-github-event": event,
            "x-github-delivery": delivery or str(uuid.uuid4()),
            "x-hub-signature-256": sign(body, secret),
            "x-github-hook-installation-target-type": "integration",
            "x-github-hook-installation-target-id": APP_ID,
        }
        sent.update(headers or {})
        response = self.http.post(
            f"{self.url}/webhooks/github",
            content=body,
            headers={k: v for k, v in sent.items() if v is not None},
        )
        if wait and response.status_code == 202:
            self.wait_idle()
        return response

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery, effect or job is ready to run at the app's current time."""
        deadline = time.monotonic() + timeout
        while self.services.db.tx(queue.busy, WORK, self.time()):
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not finish its work in time")
            time.sleep(0.01)

    def sweep(self, now: datetime) -> SweepResult:
        """`sla-bot sweep --now`: a separate set of services on the same database."""

        async def run() -> SweepResult:
            services = build(self.settings, time=lambda: now)
            try:
                return await services.sweeper.sweep(now)
            finally:
                await services.aclose()

        self.time.now = now
        return asyncio.run(run())

    def clocks(self, number: int = 7, repo: str = REPO, kind: str = "response") -> list[Clock]:
        return self.services.db.tx(history, repo, number, kind)

    def delivery(self, delivery_id: str) -> deliveries.Delivery | None:
        return self.services.db.tx(deliveries.get, delivery_id)


@contextlib.contextmanager
def with_policy(
    text: str,
    tmp_path: Path,
    github: GitHubMock,
    slack: FakeSlack,
    time: MovableTime,
    private_key: str,
) -> Iterator[Harness]:
    """A running Harness whose SLA_POLICY_FILE holds `text`."""
    policy = tmp_path / "sla.yml"
    policy.write_text(text)
    with Harness(
        database_url=f"sqlite:///{tmp_path / 'policy.db'}",
        github=github,
        slack=slack,
        time=time,
        private_key=private_key,
        sla_policy_file=policy,
    ) as running:
        yield running


# -- a FakeGitHub world: reconcile, lifecycle and responder tests --

WORLD_INSTALLATION = 77
WORLD_T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam


class World:
    """sla-bot's services against a FakeGitHub on loopback, no answer scripted: GitHub's
    state is set on `fake`, its deliveries processed by the real worker on the shared time."""

    def __init__(self, fake: FakeGitHub, services: Services, time: MovableTime) -> None:
        self.fake, self.services, self.time = fake, services, time
        self._sent = 0

    async def deliver(
        self, event: str, action: str, n: int, at: datetime, edit: Any = None, **extra: Any
    ) -> None:
        """GitHub's delivery of what just happened, processed by the app at `at`."""
        self.time.now = at
        self._sent += 1
        data = self.fake.payload(event, action, REPO, n, **extra)
        if edit is not None:
            edit(data)
        body = json.dumps(data)
        self.services.db.tx(
            deliveries.record,
            delivery_id=f"d{self._sent}",
            event=event,
            action=action,
            installation_id=WORLD_INSTALLATION,
            repo=REPO,
            issue_number=n,
            body=body,
            now=at,
        )
        await self.services.worker.drain()

    async def sweep(self, at: datetime) -> None:
        self.time.now = at
        await self.services.sweeper.sweep(at)

    async def reconcile(self, now: datetime) -> dict[str, int]:
        reconciler = self.services.reconciler
        assert reconciler is not None
        return dict(await reconciler.repo(WORLD_INSTALLATION, REPO, now))

    def clocks(self, n: int) -> list[clocks.Clock]:
        return self.services.db.tx(clocks.history, REPO, n)

    def all_clocks(self, n: int) -> list[clocks.Clock]:
        """Every clock of issue `n`, of every kind."""
        return self.services.db.tx(clocks.of_issue, REPO, n)

    def use_policy(self, text: str) -> None:
        """The repository's `.github/sla.yml` is now `text` (read again at the next need)."""
        self.fake.set_file(REPO, ".github/sla.yml", text)
        self.services.policies.forget(REPO)


async def world_fixture(tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[World]:
    time = MovableTime(WORLD_T0)  # the app and GitHub share one time: tokens expire on it
    fake = FakeGitHub(time=time)
    with fake.serve():
        fake.add_repo(REPO, WORLD_INSTALLATION)
        settings = Settings(
            github_app_id=fake.app_id,
            github_private_key=fake.private_key_pem,
            github_api_url=fake.api_url,
            database_url=f"sqlite:///{tmp_path / 'r.db'}",
            slack_bot_token=fake_slack.token,
            slack_api_url=fake_slack.api_url,
        )
        services = build(settings, time=time, require_secret=False)
        services.db.tx(repos.add, REPO, WORLD_INSTALLATION, WORLD_T0)
        yield World(fake, services, time)
        await services.aclose()


def mock_writes(harness: Harness, number: int = 7) -> tuple[object, object]:
    labels = harness.github.route("POST", f"/repos/{REPO}/issues/{number}/labels").respond(
        200, json=[]
    )
    comment = harness.github.route("POST", f"/repos/{REPO}/issues/{number}/comments").respond(
        201, json={"id": 99, "html_url": "https://github.com/acme/support/issues/7#c99"}
    )
    harness.github.route("PATCH", f"/repos/{REPO}/issues/comments/99", name="standing").respond(
        200, json={"id": 99}
    )  # the intake comment, edited to show where the request stands
    return labels, comment


def body_of(call: object) -> dict[str, object]:
    return json.loads(call.request.content)  # type: ignore[attr-defined]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


# httpx loads the CA bundle into a new SSL context for every client it makes (about 25 ms of
# CPU, a thousand times a suite); the tests' clients speak plain HTTP to loopback: one is enough.
LOOPBACK_TLS = ssl.create_default_context()

SECRETS = (
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_PATH",
    "SLACK_BOT_TOKEN",
    "GITHUB_WEBHOOK_SECRET",
    "DATABASE_URL",
    "SLA_POLICY_FILE",
)


def sla_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return processes.run(
        [sys.executable, "-m", "app.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clean, **env},
    )


def short_and_named(result: subprocess.CompletedProcess[str], culprit: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 4, result.stderr
    assert culprit in result.stderr, result.stderr


def comments(harness: Harness) -> list[str]:
    return [
        str(body_of(c)["body"]) for c in harness.github.calls() if "/comments" in str(c.request.url)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answered(url: str, seconds: float = 30) -> httpx.Response:
    """GET `url` once a process that said it serves there listens: a command may print its
    address just before its server binds."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=seconds)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("sla-bot serve did not start")


def serve_logged(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], int]:
    """`sla-bot serve` started in `tmp_path` (its port returned) as an operator would, with
    no secrets from this environment, a SQLite store there and no timers unless `env` says
    otherwise; its log is on `stderr`, read by the caller."""
    settings = {
        **{k: v for k, v in os.environ.items() if k not in SECRETS},
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "SLA_SWEEP_INTERVAL": "0",
        "SLA_REDELIVER_INTERVAL": "0",
        "SLA_RECONCILE_INTERVAL": "0",
        **env,
    }
    port = free_port()
    process = processes.Popen(
        [sys.executable, "-m", "app.cli.main", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=settings,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def settled(database_url: str) -> bool:
    """Nothing pending at all, not even a retry planned for later."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        busy = queue.busy(conn, WORK, datetime.now(UTC) + timedelta(days=1))
    engine.dispose()
    return not busy
