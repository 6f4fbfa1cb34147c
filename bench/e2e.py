"""2. End to end: from a delivery leaving the sender to sla-bot's label call reaching GitHub.

`sla-bot serve` runs as a process with GITHUB_APP_ID, GITHUB_PRIVATE_KEY and
GITHUB_API_URL pointing at the FakeGitHub stand-in (sla_sandbox/standins), served on loopback in
this process; it issues installation tokens, answers the policy file reads with 404 and
records every call. Each delivery opens a fresh issue (a Problem form, Urgent); the time
counted is from the delivery's scheduled send (fixed rate, open loop) to the moment the
stand-in receives that issue's `POST .../labels`, before it even reads the body. A short
warm-up first fetches the token and the (absent) policy file, which are then cached.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import Receive, Scope, Send

from bench import host, load, profile, servers, worker_probe
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO, SECRET, guid, request_bytes
from bench.deliveries import TITLE as ISSUE_TITLE
from bench.results import Result, fmt
from sla_sandbox.standins import FakeGitHub

NAME = "e2e"
TITLE = "2. End to end: delivery to the label call at GitHub"
_LABELS = re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+)/labels")


class TimedGitHub(FakeGitHub):
    """FakeGitHub noting when each issue's first label call arrives (perf_counter)."""

    def __init__(self) -> None:
        super().__init__(APP_ID)
        self.arrivals: dict[int, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _LABELS.fullmatch(scope["path"])
            if match:
                self.arrivals.setdefault(int(match[1]), time.perf_counter())
        await super().__call__(scope, receive, send)


@dataclass(frozen=True)
class Plan:
    rounds: int
    rate: float
    count: int
    warmup: int
    burst: int  # deliveries sent at once to find the end-to-end capacity


FULL = Plan(rounds=3, rate=50.0, count=400, warmup=20, burst=200)
QUICK = Plan(rounds=1, rate=20.0, count=5, warmup=2, burst=4)


@dataclass
class Figures:
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    answer_p99: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)  # GitHub calls per delivery
    capacity: list[float] = field(default_factory=list)  # deliveries labeled per second
    missing: int = 0


def _requests(github: TimedGitHub, port: int, count: int) -> list[tuple[int, bytes]]:
    """`count` issues opened at the stand-in, each with its signed `issues.opened`."""
    tag = uuid.uuid4().hex[:4]
    out = []
    for i in range(count):
        issue = github.open_issue(
            REPO, title=ISSUE_TITLE, body=FORM_BODY, user="wile-e", labels=["type: problem"]
        )
        number = int(issue["number"])
        body = load_json(github.payload("issues", "opened", REPO, number))
        out.append((number, request_bytes(port, "issues", guid(tag, i), body)))
    return out


def load_json(data: object) -> bytes:
    import json

    return json.dumps(data, separators=(",", ":")).encode()


def _wait_arrivals(github: TimedGitHub, numbers: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(n not in github.arrivals for n in numbers):
        time.sleep(0.05)


def measure(
    backend: str, plan: Plan, workdir: Path, figures: Figures, spy: Path | None = None
) -> str:
    """One fresh server and stand-in: warm up, then the fixed-rate run; a profile if `spy`."""
    github = TimedGitHub()
    github.add_repo(REPO, INSTALLATION)
    with github.serve(), servers.database(backend, workdir) as db_url:
        port = servers.free_port()
        assert github.private_key_pem is not None
        env = servers.child_env(
            GITHUB_WEBHOOK_SECRET=SECRET,
            GITHUB_APP_ID=APP_ID,
            GITHUB_PRIVATE_KEY=github.private_key_pem,
            GITHUB_API_URL=github.api_url,
            DATABASE_URL=db_url,
            SLA_SWEEP_INTERVAL="0",
            SLA_GITHUB_WRITE_RATE="0",  # unpaced: the benchmark measures sla-bot, not GitHub
            LOG_FORMAT="json",
        )
        log = workdir / f"e2e-{backend}.log"
        requests = _requests(github, port, plan.warmup + plan.count + plan.burst)
        sent: dict[int, float] = {}

        def source(n: int) -> bytes:
            return requests[n][1]

        def on_sent(n: int, scheduled: float) -> None:
            sent[requests[n][0]] = scheduled

        with servers.Server(servers.slabot_command(port), port=port, env=env, log=log) as srv:
            load.run(
                lambda: load.fixed_rate(port, source, rate=10, count=plan.warmup, connections=4)
            )
            _wait_arrivals(github, [n for n, _ in requests[: plan.warmup]], 30)
            calls_before = len(github.calls)
            spying = None
            if spy is not None and srv.process is not None:
                spying = profile.start_pyspy(srv.process.pid, plan.count / plan.rate, spy)
            answered = load.run(
                lambda: load.fixed_rate(
                    port,
                    source,
                    rate=plan.rate,
                    count=plan.count,
                    first=plan.warmup,
                    on_sent=on_sent,
                )
            )
            measured = [n for n, _ in requests[plan.warmup : plan.warmup + plan.count]]
            _wait_arrivals(github, measured, 60)
            calls = len(github.calls) - calls_before
            summary = profile.finish_pyspy(spying, spy) if spy is not None else ""
            burst = [n for n, _ in requests[plan.warmup + plan.count :]]
            began = time.perf_counter()
            load.run(
                lambda: load.closed_loop(
                    port,
                    source,
                    seconds=60,
                    connections=8,
                    first=plan.warmup + plan.count,
                    max_requests=plan.burst,
                )
            )
            _wait_arrivals(github, burst, 60)
            arrived = [github.arrivals[n] for n in burst if n in github.arrivals]
            if arrived:
                figures.capacity.append(len(arrived) / (max(arrived) - began))
    latencies = [(github.arrivals[n] - sent[n]) for n in measured if n in github.arrivals]
    figures.missing += len(measured) - len(latencies)
    # A label call that never came counts as slower than every one that did.
    latencies += [float("inf")] * (len(measured) - len(latencies))
    timing = load.LoadResult(latencies=latencies)
    figures.p50.append(timing.percentile(50))
    figures.p99.append(timing.percentile(99))
    figures.answer_p99.append(answered.percentile(99))
    figures.calls.append(calls / plan.count)
    return summary


def run(quick: bool = False) -> list[Result]:
    plan = QUICK if quick else FULL
    backends = servers.backends()
    found = {backend: Figures() for backend in backends}
    out = []
    with tempfile.TemporaryDirectory(prefix="sla-bench-") as tmp:
        for _ in range(plan.rounds):
            for backend in backends:
                measure(backend, plan, Path(tmp), found[backend])
        probe = ""
        for backend, figures in found.items():
            rows = _results(backend, plan, figures)
            if not quick and rows[0].met is False:
                host.wait_quiet(30)
                summary = measure(backend, plan, Path(tmp), Figures(), Path(tmp) / "spy.txt")
                probe = probe or worker_probe.report(Path(tmp))
                rows[0].detail = (
                    f"`sla-bot serve` on {backend} at {fmt(plan.rate)} deliveries/s, profiled "
                    f"with py-spy while the run lasted:\n\n{summary}\n\n"
                    "What was tried: the worker alone, in the benchmark process "
                    "(`bench/worker_probe.py`; the stand-in shares that process, so sending is "
                    f"somewhat overstated):\n\n{probe}"
                )
            out += rows
    return out


def _results(backend: str, plan: Plan, figures: Figures) -> list[Result]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    note = f"p50 {fmt(sorted(figures.p50)[len(figures.p50) // 2])} ms"
    if figures.missing:
        note += f"; {figures.missing} label calls never arrived (counted as infinite)"
    return [
        Result(
            NAME,
            f"{label}: delivery to label call, p99 at {fmt(plan.rate)} deliveries/s",
            "ms",
            figures.p99,
            goal="< 250 ms",
            note=note,
        ).check(250.0),
        Result(NAME, f"{label}: the delivery's own answer (202), p99", "ms", figures.answer_p99),
        Result(
            NAME,
            f"{label}: end-to-end capacity, deliveries labeled/s",
            "/s",
            figures.capacity,
            better="higher",
            note=f"{plan.burst} deliveries sent at once, to their last label call",
        ),
        Result(
            NAME,
            f"{label}: GitHub calls per delivery",
            "",
            figures.calls,
            note="add labels + the intake comment",
        ),
    ]
