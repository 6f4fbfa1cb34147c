"""A FakeGitHub on loopback and sla-bot's real GitHubApp pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import stamina.instrumentation
from stamina.instrumentation import RetryDetails

from app.github.app import GitHubApp
from app.github.http import Session
from sla_sandbox.standins import FakeGitHub
from tests.harness import MovableTime

APP_ID = "4242"
INSTALLATION = 7001
REPO = "acme/support"


class Sleeps(list[float]):
    """The in-process retries (stamina's) of GitHub calls, each with the wait it was
    scheduled after: a rate limit is never among them (the outbox reschedules)."""

    def __call__(self, details: RetryDetails) -> None:
        self.append(details.wait_for)


@pytest.fixture(scope="session")
def _served_github(app_key: str) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(APP_ID, app_key)
    with fake.serve():
        yield fake


@pytest.fixture
def fake_github(_served_github: FakeGitHub, time: MovableTime) -> FakeGitHub:
    """The served FakeGitHub, emptied, on this test's time, with one installed repo."""
    _served_github.reset(time=time)
    _served_github.add_repo(REPO, INSTALLATION)
    return _served_github


@pytest.fixture
def sleeps() -> Iterator[Sleeps]:
    found = Sleeps()
    before = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([*before, found])
    yield found
    stamina.instrumentation.set_on_retry_hooks(before)


@pytest.fixture
async def github_app(
    fake_github: FakeGitHub, app_key: str, time: MovableTime, sleeps: Sleeps
) -> AsyncIterator[GitHubApp]:
    http = Session(timeout=5.0)
    yield GitHubApp(
        app_id=APP_ID, private_key=app_key, base_url=fake_github.api_url, http=http, time=time
    )
    await http.aclose()
