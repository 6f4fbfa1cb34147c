"""Shared fixtures: one FakeSlack, one scripted GitHub stand-in, one app harness over real HTTP."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stamina
from sqlalchemy import create_engine, text

from app.engine.process import cpus
from app.store import make_engine, migrate
from app.store.database import Database
from sla_sandbox.standins import FakeGitHub, FakeSlack
from tests.harness import (
    APP_ID,
    GITHUB_PATH,
    INSTALLATION,
    REPO,
    GitHubMock,
    Harness,
    MovableTime,
    World,
    private_key_pem,
    world_fixture,
)

# In-process retries (stamina) keep their attempts but never wait in tests.
stamina.set_testing(True, attempts=3, cap=True)

# The on-call fixtures (PagerDuty served, the escalating harness), the demo week (built once
# per run) and the migrated store the harnesses start on, for every test module.
pytest_plugins = ["tests.oncall_fixtures", "tests.demo_week", "tests.stores"]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per CPU this run may use. Many tests wait on a process they
    started (`sla-bot serve`, a stand-in, the store's thread), so a core has room for a
    second worker; three per core was slower again (the wall times are in the README)."""
    return 2 * cpus()


def pytest_configure(config: pytest.Config) -> None:
    """The tests start sla-bot as a process a few hundred times. Where the environment says
    not to write bytecode (PYTHONDONTWRITEBYTECODE, e.g. to keep the checkout clean), each of
    them compiled the app from source again (about 0.2 s of CPU a start): they keep their
    bytecode in a cache of their own outside the checkout (PYTHONPYCACHEPREFIX) instead."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and "PYTHONPYCACHEPREFIX" not in os.environ:
        del os.environ["PYTHONDONTWRITEBYTECODE"]
        cache = Path(tempfile.gettempdir()) / f"sla-bot-tests-pycache-{os.getuid()}"
        os.environ["PYTHONPYCACHEPREFIX"] = str(cache)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SLA_BOT_TEST_POSTGRES_URL"):
        return
    skip = pytest.mark.skip(reason="SLA_BOT_TEST_POSTGRES_URL is not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (SLA_BOT_REQUIRE_POSTGRES=1) a skipped PostgreSQL test fails the run."""
    if os.environ.get("SLA_BOT_REQUIRE_POSTGRES") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [
        r
        for r in (reporter.stats.get("skipped", []) if reporter else [])
        if "postgres" in r.keywords
    ]
    ran = [
        r
        for key in ("passed", "failed")
        for r in (reporter.stats.get(key, []) if reporter else [])
        if "postgres" in r.keywords and r.when == "call"
    ]
    if skipped or not ran:
        print(f"\nPostgreSQL tests were skipped ({len(skipped)}) or none ran: failing the run.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


PG_ENV = "SLA_BOT_TEST_POSTGRES_URL"


def postgres_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    base = os.environ[PG_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield postgres_url_with_schema(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _fake_slack_server() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    with slack.serve():
        yield slack


@pytest.fixture
def fake_slack(_fake_slack_server: FakeSlack, time: MovableTime) -> FakeSlack:
    """A FakeSlack served on loopback, with no calls, messages or faults left from other tests,
    stamping messages on the test's time."""
    _fake_slack_server.reset(time=time)
    return _fake_slack_server


@pytest.fixture(scope="session")
def app_key() -> str:
    return private_key_pem()


@pytest.fixture(scope="session")
def _harness_github(app_key: str) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(APP_ID, app_key, api_path=GITHUB_PATH)
    with fake.serve():
        yield fake


@pytest.fixture
def github(_harness_github: FakeGitHub, time: MovableTime) -> Iterator[GitHubMock]:
    """The served GitHub stand-in, emptied, on the test's time, with the App installed on
    acme/support (and the org's .github repository), and no answers scripted yet."""
    _harness_github.reset(time=time)
    _harness_github.add_repo(REPO, INSTALLATION)
    _harness_github.add_repo("acme/.github", INSTALLATION)
    yield GitHubMock(_harness_github)
    _harness_github.intercept(None)


@pytest.fixture
def time() -> MovableTime:
    return MovableTime(datetime(2026, 11, 27, 15, 30, 5, tzinfo=UTC))


@pytest.fixture
def harness(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    migrated_copy: Callable[[Path], str],
) -> Iterator[Harness]:
    with Harness(
        database_url=migrated_copy(tmp_path / "sla.db"),
        github=github,
        slack=fake_slack,
        time=time,
        private_key=app_key,
    ) as running:
        yield running


@pytest.fixture
async def world(tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[World]:
    """sla-bot against a FakeGitHub on loopback, one time function for both (see `World`)."""
    async for built in world_fixture(tmp_path, fake_slack):
        yield built


@pytest.fixture
def db(
    database_url: str, tmp_path: Path, migrated_copy: Callable[[Path], str]
) -> Iterator[Database]:
    """A migrated store on SQLite (a copy of the worker's) and on PostgreSQL (`database_url`),
    each test in a fresh one."""
    if database_url.startswith("sqlite"):
        database_url = migrated_copy(tmp_path / "store.db")
    engine = make_engine(database_url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A FakeGitHub served on loopback with acme/support installed (for `sla-bot serve` run
    as a process)."""
    fake = FakeGitHub()
    with fake.serve():
        fake.add_repo(REPO, 77)
        yield fake
