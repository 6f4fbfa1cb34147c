"""`serve` with its worker in a process of its own (SLA_WORKER), and `sla-bot work` alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.engine.process import BUSY, CALM, LOOK, ROUTINE, URGENT, listen, separate
from app.store import deliveries
from app.store.effects import marker
from app.store.queue import ROUTINE_LANE, URGENT_LANE
from sla_sandbox.standins import FakeGitHub
from tests import processes
from tests.factories import SECRET, signed
from tests.harness import LOOPBACK_TLS, REPO, free_port, serve, settled


@pytest.fixture
def env(fake_github: FakeGitHub, database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    (tmp_path / "tmp").mkdir()
    values = {
        **os.environ,
        "GITHUB_APP_ID": fake_github.app_id,
        "GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
        "GITHUB_API_URL": fake_github.api_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "SLA_WORKER": "process",
        "SLA_SWEEP_INTERVAL": "0",
        "SLA_REDELIVER_INTERVAL": "0",
        "SLA_RECONCILE_INTERVAL": "0",
        "LOG_LEVEL": "WARNING",
        "TMPDIR": str(tmp_path / "tmp"),  # the metrics files' home
    }
    for name in ("SLACK_BOT_TOKEN", "PROMETHEUS_MULTIPROC_DIR"):
        values.pop(name, None)
    yield values


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def until(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def worker_of(server: subprocess.Popen[bytes]) -> int:
    assert until(lambda: len(children(server.pid)) == 1, 10), "no worker process"
    (pid,) = children(server.pid)
    assert b"work" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return pid


def deliver(fake: FakeGitHub, port: int, numbers: range) -> None:
    with httpx.Client(verify=LOOPBACK_TLS, base_url=f"http://127.0.0.1:{port}") as client:
        for n in numbers:
            fake.open_issue(REPO, title=f"Request {n}", body=None, user="dana")
            body, headers = signed(fake.payload("issues", "opened", REPO, n), f"proc-{n}")
            assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202


def handled_once(fake: FakeGitHub, numbers: range) -> bool:
    for n in numbers:
        intake = [
            c for c in fake.comments(REPO, n) if marker(f"intake:comment:{REPO}#{n}") in c["body"]
        ]
        if len(intake) != 1 or "priority: normal" not in fake.label_names(REPO, n):
            return False
    return True


def metric(port: int, line_start: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


@pytest.mark.slow
def test_the_worker_process_does_the_work_and_is_started_again_when_it_dies(
    fake_github: FakeGitHub, env: dict[str, str], database_url: str
) -> None:
    port = free_port()
    server = serve(env, port)
    try:
        first = worker_of(server)
        deliver(fake_github, port, range(1, 6))
        assert until(lambda: settled(database_url) and handled_once(fake_github, range(1, 6)))
        # /metrics adds up both processes: the receiver's deliveries, the worker's sends.
        accepted = 'sla_bot_deliveries_total{event="issues",outcome="accepted"}'
        sent = 'sla_bot_effects_total{kind="comment",outcome="sent",target="github"}'
        assert (metric(port, accepted), metric(port, sent)) == (5, 5)

        os.kill(first, signal.SIGKILL)
        assert until(lambda: children(server.pid) not in ([], [first]), 15), "not restarted"
        deliver(fake_github, port, range(6, 9))
        assert until(lambda: settled(database_url) and handled_once(fake_github, range(1, 9)))
        assert metric(port, accepted) == 8
    finally:
        server.terminate()
        assert server.wait(20) is not None
    assert until(lambda: not alive(first) and not any(map(alive, children(server.pid))), 5)
    assert list(Path(env["TMPDIR"]).iterdir()) == []  # the metrics files are gone too


@pytest.mark.slow
def test_the_worker_process_ends_with_its_server_even_a_killed_one(
    env: dict[str, str],
) -> None:
    port = free_port()
    server = serve(env, port)
    worker = worker_of(server)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    assert until(lambda: not alive(worker), 15), "the worker outlived its server"


@pytest.mark.slow
def test_sla_bot_work_alone_processes_what_is_stored_and_runs_the_jobs_planned(
    fake_github: FakeGitHub, env: dict[str, str], database_url: str
) -> None:
    from app.store import jobs, migrate
    from app.store.connect import make_engine
    from app.store.queue import AT_ONCE

    engine = make_engine(database_url)
    migrate(engine)
    fake_github.open_issue(REPO, title="Alone", body=None, user="dana")
    fake_github.add_repo("acme/billing", 77)
    body, _ = signed(fake_github.payload("issues", "opened", REPO, 1), "alone-1")
    with engine.begin() as conn:
        jobs.reconcile(
            conn, 77, "acme/billing", key="install:acme/billing:d1:reconcile", now=AT_ONCE
        )
        deliveries.record(
            conn,
            delivery_id="alone-1",
            event="issues",
            action="opened",
            installation_id=77,
            repo=REPO,
            issue_number=1,
            body=body.decode(),
            now=AT_ONCE,  # ready by any clock (libfaketime starts each process at its time)
        )
    engine.dispose()
    worker = processes.Popen([sys.executable, "-m", "app.cli.main", "work"], env=env)
    try:
        assert until(lambda: handled_once(fake_github, range(1, 2)) and settled(database_url))
    finally:
        worker.terminate()
        code = worker.wait(20)
    assert code == 0
    with engine.connect() as conn:
        reconciled = jobs.by_key(conn, "install:acme/billing:d1:reconcile")
    engine.dispose()
    assert reconciled is not None and reconciled.status == jobs.DONE


@pytest.mark.parametrize(
    ("setting", "url", "cpus", "expected"),
    [
        ("auto", "postgresql://db/sla", 2, True),
        ("auto", "postgresql://db/sla", 1, False),  # pinned to one core: in-process is faster
        ("auto", "sqlite:///sla-bot.db", 8, False),  # one writer at a time
        ("process", "sqlite:///sla-bot.db", 1, True),
        ("inline", "postgresql://db/sla", 8, False),
    ],
)
def test_where_the_worker_runs(setting: str, url: str, cpus: int, expected: bool) -> None:
    assert separate(setting, url, lambda: cpus) is expected


@pytest.mark.anyio
async def test_kicks_arrive_with_their_lanes_and_the_pipe_end_stops_the_worker() -> None:
    read, write = os.pipe()
    kicks: list[tuple[int, int]] = []
    gone = asyncio.Event()

    def kick(*, lane: int = ROUTINE_LANE, stored: int = 0) -> None:
        kicks.append((lane, stored))

    busy: list[bool] = []
    listen(read, kick, gone.set, busy.append)
    for data in (ROUTINE * 2, ROUTINE + URGENT, LOOK, BUSY + ROUTINE + CALM + BUSY):
        os.write(write, data)
        await asyncio.sleep(0.05)
    os.close(write)
    await asyncio.wait_for(gone.wait(), 5)
    os.close(read)
    # A byte a delivery stored, by its lane, and a look for effects too: as Worker.kick.
    assert kicks == [
        (ROUTINE_LANE, 2),
        (URGENT_LANE, 1),
        (ROUTINE_LANE, 1),
        (ROUTINE_LANE, 0),
        (ROUTINE_LANE, 1),
    ]
    assert busy == [True]  # the receiver's last word: it is busy (routine work steps aside)


CHILD = """
import os, sys
fd, out = int(sys.argv[sys.argv.index("--kick-fd") + 1]), sys.argv[1]
with open(out, "ab") as log:
    log.write(b"[")
    log.flush()
    while data := os.read(fd, 4096):
        log.write(data)
        log.flush()
    log.write(b"]")
"""


@pytest.mark.anyio
async def test_serve_kicks_its_worker_process_starts_it_again_and_stops_it(
    tmp_path: Path,
) -> None:
    from app.engine.process import WorkerProcess

    out = tmp_path / "kicks"
    runner = WorkerProcess([sys.executable, "-c", CHILD, str(out)], restart_after=0.05)
    runner.kick(lane=URGENT_LANE)  # before it runs: owed, and sent once it does
    runner.start()

    async def seen(text: bytes) -> None:
        for _ in range(200):
            if out.exists() and out.read_bytes().endswith(text):
                return
            await asyncio.sleep(0.025)
        raise AssertionError(f"{text!r} not in {out.read_bytes()!r}")

    await seen(b"[" + URGENT + LOOK)
    first = runner.pid
    runner.kick(stored=1)  # a delivery stored
    runner.kick(lane=URGENT_LANE, stored=1)
    await seen(ROUTINE + URGENT)
    assert first is not None
    os.kill(first, signal.SIGKILL)  # it dies: started again, and woken as it starts
    await seen(URGENT + b"[" + LOOK)
    assert runner.pid != first
    await runner.stop()  # the pipe closes: the child ends by itself
    assert out.read_bytes().endswith(b"]")
    assert runner.pid is not None and not alive(runner.pid)
