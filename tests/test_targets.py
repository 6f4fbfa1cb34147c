"""Each target sends on its own (issue 25): PagerDuty that never answers holds only PagerDuty's
events; the Slack page and the GitHub label go out at once, and so does later work."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic, sleep

import pytest
from sqlalchemy import Connection, select

from app.store import outbox, tables
from sla_sandbox.standins import FakeSlack
from sla_sandbox.standins.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.factories import SIGNING_SECRET, SUNDAY_3AM, opened, opened_problem
from tests.harness import REPO, GitHubMock, Harness, MovableTime, mock_writes


@pytest.fixture
def silent() -> Iterator[str]:
    """An Events API URL whose server takes every connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v2/enqueue"
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        server.close()


def until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = monotonic() + seconds
    while not check():
        if monotonic() > deadline:
            return False
        sleep(0.01)
    return True


def harness_with(
    tmp_path: Path,
    github: GitHubMock,
    slack: FakeSlack,
    time: MovableTime,
    key: str,
    url: str,
    timeout: float,
) -> Harness:
    time.now = SUNDAY_3AM
    return Harness(
        database_url=f"sqlite:///{tmp_path / 'targets.db'}",
        github=github,
        slack=slack,
        time=time,
        private_key=key,
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=url,
        pagerduty_timeout=timeout,
    )


def last_error(conn: Connection, key: str) -> str | None:
    found = conn.execute(select(tables.outbox.c.last_error).where(tables.outbox.c.key == key))
    return found.scalar_one_or_none()


def pages(slack: FakeSlack) -> list[str]:
    return [m.channel for m in slack.messages if m.channel == "#on-call" and not m.thread_ts]


def labelled(harness: Harness, number: int) -> bool:
    return any(
        c.request.method == "POST" and c.request.url.path.endswith(f"/issues/{number}/labels")
        for c in harness.github.calls()
    )


def test_pagerduty_that_never_answers_holds_only_its_own_events(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    silent: str,
) -> None:
    with harness_with(tmp_path, github, fake_slack, time, app_key, silent, timeout=60) as h:
        mock_writes(h)
        mock_writes(h, 8)
        began = monotonic()
        assert h.deliver("issues", opened_problem("All end users"), wait=False).status_code == 202
        assert until(lambda: pages(fake_slack) == ["#on-call"] and labelled(h, 7), 10)
        assert monotonic() - began < 10  # not after PagerDuty's 60 s
        trigger = h.services.db.tx(outbox.by_key, "pagerduty:trigger:1")
        assert trigger is not None and trigger.status == outbox.PENDING  # still waiting
        # Work decided while PagerDuty still hangs goes out at once too.
        urgent = opened(issue__number=8, issue__title="Checkout slow")
        assert h.deliver("issues", urgent, wait=False).status_code == 202

        def announced() -> int:
            return len([m for m in fake_slack.messages if "Checkout slow" in (m.text or "")])

        assert until(lambda: labelled(h, 8) and announced() == 1, 10)
        trigger = h.services.db.tx(outbox.by_key, "pagerduty:trigger:1")
        assert trigger is not None and trigger.status == outbox.PENDING  # PagerDuty still hangs


def test_a_pagerduty_timeout_is_a_retry_after_its_own_timeout(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    silent: str,
) -> None:
    with harness_with(tmp_path, github, fake_slack, time, app_key, silent, timeout=0.5) as h:
        mock_writes(h)
        h.github.route("PATCH", f"/repos/{REPO}/issues/7").respond(200, json={})
        h.deliver("issues", opened_problem("All end users"), wait=False)

        def retried() -> bool:
            return "TimeoutError" in (h.services.db.tx(last_error, "pagerduty:trigger:1") or "")

        began = monotonic()
        assert until(retried, 6)
        assert monotonic() - began < 6  # its 0.5 s, not the default 10 s nor httpx's 15 s
        item = h.services.db.tx(outbox.by_key, "pagerduty:trigger:1")
        assert item is not None and item.status == outbox.PENDING and item.attempts == 1


def test_a_process_runs_the_loops_only_of_the_targets_it_has_credentials_for(
    tmp_path: Path,
    github: GitHubMock,
    fake_slack: FakeSlack,
    time: MovableTime,
    app_key: str,
    pagerduty: FakePagerDuty,
) -> None:
    """A process without PagerDuty's credentials runs no PagerDuty loop: the trigger stays
    owed, never claimed (no attempt), while the page and the label go out; a process that has
    them sends it."""
    with harness_with(tmp_path, github, fake_slack, time, app_key, pagerduty.url, 10) as h:
        mock_writes(h)
        dispatcher = h.services.dispatcher
        dispatcher.targets = frozenset({outbox.GITHUB, outbox.SLACK})  # no PagerDuty key here
        assert dispatcher.sending() == (outbox.GITHUB, outbox.SLACK)
        assert h.deliver("issues", opened_problem("All end users"), wait=False).status_code == 202
        assert until(lambda: pages(fake_slack) == ["#on-call"] and labelled(h, 7), 10)
        trigger = h.services.db.tx(outbox.by_key, "pagerduty:trigger:1")
        assert trigger is not None and trigger.status == outbox.PENDING
        assert trigger.attempts == 0 and not pagerduty.events
        assert asyncio.run(dispatcher.drain_target(outbox.PAGERDUTY)) == 0
        assert outbox.PAGERDUTY not in h.services.worker._senders
        dispatcher.targets = None  # now as a process with the key
        h.services.worker.kick_threadsafe()
        assert until(lambda: [e["event_action"] for e in pagerduty.events] == ["trigger"], 10)
