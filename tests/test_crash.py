"""A crash right after the 202s: on restart every stored delivery's effect happens once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.store.effects import marker
from sla_sandbox.standins import FakeGitHub
from tests.factories import SECRET, signed
from tests.harness import LOOPBACK_TLS, REPO, free_port, serve, settled

BATCH = 40


def crash_env(fake_github: FakeGitHub, database_url: str, *, lease_seconds: int) -> dict[str, str]:
    """`serve` against the GitHub stand-in, no Slack, no timers: only the work sent to it."""
    env = {
        **os.environ,
        "GITHUB_APP_ID": fake_github.app_id,
        "GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
        "GITHUB_API_URL": fake_github.api_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "SLA_SWEEP_INTERVAL": "0",
        "SLA_REDELIVER_INTERVAL": "0",
        "SLA_RECONCILE_INTERVAL": "0",
        "LOG_LEVEL": "WARNING",
        "SLA_LEASE_SECONDS": str(lease_seconds),
    }
    env.pop("SLACK_BOT_TOKEN", None)
    return env


@pytest.mark.slow
def test_sigkill_after_the_202s_loses_and_doubles_nothing(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    # A dead replica's claims lapse in seconds (default 15).
    env = crash_env(fake_github, database_url, lease_seconds=3)
    port = free_port()
    server = serve(env, port)
    batch = []
    for n in range(1, BATCH + 1):
        fake_github.open_issue(REPO, title=f"Request {n}", body=None, user="dana")
        batch.append(signed(fake_github.payload("issues", "opened", REPO, n), f"crash-{n}"))
    with httpx.Client(verify=LOOPBACK_TLS, base_url=f"http://127.0.0.1:{port}") as client:
        answers = [client.post("/webhooks/github", content=b, headers=h) for b, h in batch]
    server.send_signal(signal.SIGKILL)  # right after the last 202, mid-processing
    server.wait(10)
    assert [a.status_code for a in answers] == [202] * BATCH
    assert not settled(database_url), "the crash came too late to test anything"

    restarted = serve(env, port)
    try:
        deadline = time.monotonic() + 30  # the promise: all resumed within 30 s of a restart
        while not settled(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert settled(database_url)
    finally:
        restarted.terminate()
        restarted.wait(10)
    for n in range(1, BATCH + 1):
        labels = fake_github.label_names(REPO, n)
        assert sorted(labels) == ["priority: normal", "type: other"], n
        intake = [
            c
            for c in fake_github.comments(REPO, n)
            if marker(f"intake:comment:{REPO}#{n}") in c["body"]
        ]
        assert len(intake) == 1, n


@pytest.mark.slow
def test_a_reconcile_cut_short_by_sigkill_is_run_again_after_a_restart(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    from app.store import jobs, make_engine, migrate
    from app.store.queue import AT_ONCE

    database_url = f"sqlite:///{tmp_path / 'crash-job.db'}"
    key = "install:acme/billing:d1:reconcile"
    engine = make_engine(database_url)
    migrate(engine)
    with engine.begin() as conn:
        jobs.reconcile(conn, 77, "acme/billing", key=key, now=AT_ONCE)
    fake_github.add_repo("acme/billing", 77)
    listing, listed = threading.Event(), []

    async def slow_first_listing(request: Any, stand_in: Any) -> Any:
        if request.url.path.endswith("/repos/acme/billing/issues"):
            listed.append(request.url.path)
            if len(listed) == 1:  # the first reconcile is under way when the process dies
                listing.set()
                await asyncio.sleep(30)
        return await stand_in()

    fake_github.intercept(slow_first_listing)
    env = crash_env(fake_github, database_url, lease_seconds=2)
    port = free_port()
    try:
        server = serve(env, port)
        assert listing.wait(20), "the reconcile never started"
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        with engine.connect() as conn:
            cut = jobs.by_key(conn, key)
        assert cut is not None and (cut.status, cut.attempts) == (jobs.PENDING, 1)
        restarted = serve(env, port)
        try:
            deadline = time.monotonic() + 40  # its lease lapses, the runner's poll finds it
            while not settled(database_url) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            restarted.terminate()
            restarted.wait(10)
    finally:
        fake_github.intercept(None)
    with engine.connect() as conn:
        done = jobs.by_key(conn, key)
    engine.dispose()
    assert done is not None and (done.status, done.attempts) == (jobs.DONE, 2)
    assert len(listed) == 2
