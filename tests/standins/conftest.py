"""A FakeGitHub on loopback and sla-bot's real GitHubApp pointed at it (no respx here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.github.app import GitHubApp
from sla_sandbox.standins import FakeGitHub
from tests.harness import MutableClock

APP_ID = "4242"
INSTALLATION = 7001
REPO = "acme/support"


class Sleeps(list[float]):
    """GitHubApp's `sleep`: records the waits instead of sleeping."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="session")
def _served_github(app_key: str) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(APP_ID, app_key)
    with fake.serve():
        yield fake


@pytest.fixture
def fake_github(_served_github: FakeGitHub, clock: MutableClock) -> FakeGitHub:
    """The served FakeGitHub, emptied, on this test's clock, with one installed repo."""
    _served_github.reset(clock=clock)
    _served_github.add_repo(REPO, INSTALLATION)
    return _served_github


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def github_app(
    fake_github: FakeGitHub, app_key: str, clock: MutableClock, sleeps: Sleeps
) -> AsyncIterator[GitHubApp]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield GitHubApp(
            app_id=APP_ID,
            private_key=app_key,
            base_url=fake_github.api_url,
            http=http,
            clock=clock,
            sleep=sleeps,
        )
