"""sla-bot served on loopback between a FakeGitHub and a FakeSlack (both on loopback), fed
signed Slack events and signed GitHub deliveries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.http.main import create_app
from app.services import Services, build
from app.store import deliveries, queue, repos
from app.store.tables import deliveries as deliveries_table
from app.store.tables import jobs as jobs_table
from app.store.tables import outbox as outbox_table
from sla_sandbox.standins import FakeGitHub, FakeSlack, LoopbackServer
from sla_sandbox.standins.slack import event_callback, sign
from tests import factories
from tests.factories import SUPPORT_CHANNEL
from tests.harness import LOOPBACK_TLS, MovableTime

SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
WEBHOOK_SECRET = "It's a Secret to Everybody"
REPO = "acme/support"
INSTALLATION = 77
CHANNEL = SUPPORT_CHANNEL
TEAM = "T0SUPPORT"  # the workspace sla-bot is installed in
CUSTOMERS = "T0ACME"  # the customer's workspace, sharing the channel (Slack Connect)
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam
POLICY = (
    f"intake:\n  slack:\n    channels: {{{CHANNEL}: {REPO}}}\n"
    "priorities:\n  normal:\n    next_response: 4h\n"
    "customers:\n  acme:\n    name: Acme Corp\n    repositories: [acme/support]\n"
)


def slack_headers(body: bytes, at: datetime, secret: str = SIGNING) -> dict[str, str]:
    return sign(secret, body, at)


class Served:
    """The app on loopback; GitHub and Slack are stand-ins on the same time function."""

    def __init__(
        self, tmp: Path, fake: FakeGitHub, slack: FakeSlack, time: MovableTime, policy: str
    ) -> None:
        self.fake, self.slack, self.time = fake, slack, time
        path = tmp / "sla.yml"
        path.write_text(policy)
        self.settings = Settings(
            github_app_id=fake.app_id,
            github_private_key=fake.private_key_pem,
            github_api_url=fake.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
            database_url=f"sqlite:///{tmp / 'slack.db'}",
            slack_bot_token=slack.token,
            slack_api_url=slack.api_url,
            slack_signing_secret=SIGNING,
            sla_policy_file=path,
            sla_sweep_interval=0,
            sla_redeliver_interval=0,
            sla_reconcile_interval=0,
            sla_github_write_rate=0,
            slack_channel="#support",
        )
        self.services: Services = build(self.settings, time=time)
        self.services.worker.poll = 3600.0
        self.services.db.tx(repos.add, REPO, INSTALLATION, T0 - timedelta(days=30))
        self.server = LoopbackServer(create_app(self.settings, services=self.services))
        self.http = httpx.Client(verify=LOOPBACK_TLS, timeout=10)

    @property
    def url(self) -> str:
        return self.server.url

    def post_event(
        self,
        data: dict[str, Any] | bytes,
        *,
        secret: str = SIGNING,
        age: timedelta = timedelta(0),
        headers: dict[str, str] | None = None,
        wait: bool = True,
    ) -> httpx.Response:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        sent = slack_headers(body, self.time() - age, secret)
        sent.update(headers or {})
        response = self.http.post(f"{self.url}/slack/events", content=body, headers=sent)
        if wait:
            self.wait_idle()
        return response

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry: int | None = None,
        wait: bool = True,
    ) -> httpx.Response:
        """An event_callback as Slack sends it, signed now."""
        data = event_callback(
            event,
            team=TEAM,
            at=self.time(),
            event_id=event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        )
        headers = (
            {}
            if retry is None
            else {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        )
        return self.post_event(data, headers=headers, wait=wait)

    def deliver(self, event: str, action: str, n: int, **extra: Any) -> httpx.Response:
        """GitHub's signed delivery of what just happened on the FakeGitHub."""
        body = json.dumps(self.fake.payload(event, action, REPO, n, **extra)).encode()
        signature = factories.sign(body, WEBHOOK_SECRET)
        response = self.http.post(
            f"{self.url}/webhooks/github",
            content=body,
            headers={
                "content-type": "application/json",
                "x-github-event": event,
                "x-github-delivery": str(uuid.uuid4()),
                "x-hub-signature-256": signature,
            },
        )
        self.wait_idle()
        return response

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = monotonic() + timeout
        self.services.runner.kick()
        work = [deliveries_table, outbox_table, jobs_table]
        while self.services.db.tx(queue.busy, work, self.time()):
            if monotonic() > deadline:
                raise TimeoutError("the app did not finish its work in time")
            sleep(0.01)

    def stored(self) -> list[deliveries.Delivery]:
        from sqlalchemy import select

        with self.services.db.engine.connect() as conn:
            ids = conn.execute(select(deliveries_table.c.id)).scalars().all()
        return [d for d in (self.services.db.tx(deliveries.get, i) for i in ids) if d]


@pytest.fixture
def time() -> MovableTime:
    return MovableTime(T0)


@pytest.fixture
def served(tmp_path: Path, fake_slack: FakeSlack, time: MovableTime) -> Iterator[Served]:
    fake = FakeGitHub(time=time)
    with fake.serve():
        fake.add_repo(REPO, INSTALLATION)
        app = Served(tmp_path, fake, fake_slack, time, POLICY)
        app.server.start()
        try:
            yield app
        finally:
            app.http.close()
            app.server.stop()


def people(served: Served) -> None:
    """The customer (from another workspace) and a support engineer, known to Slack."""
    served.slack.add_user("U0KIM", "kim", CUSTOMERS)  # the customer, from another workspace
    served.slack.add_user("U0DANA", "dana", TEAM)  # the support team
