"""1. Ingest: signed deliveries answered per second by `sla-bot serve`, beside the ceiling.

Each measurement starts a fresh server process (and a fresh database): `sla-bot serve` with
GITHUB_WEBHOOK_SECRET, DATABASE_URL (an SQLite file, or a new PostgreSQL schema),
SLA_SWEEP_INTERVAL=0 and no GitHub or Slack credentials, so nothing leaves the machine;
and the ceiling, a bare FastAPI route that only verifies the signature (bench/ceiling.py),
under the same uvicorn. Targets are measured in turn within each round, so background load
on the machine hits them alike.

- Throughput: a closed loop of keep-alive connections sending signed `issues.opened` and
  `issue_comment.created` deliveries (alternately, each opened issue then commented on)
  for a fixed time after a warm-up; accepted = answered 202. The worker runs as in
  production with the default SLA_WORKER=auto: in the server's process on SQLite, in a
  process of its own on PostgreSQL (two cores here). A closed loop keeps more deliveries in
  hand than SLA_YIELD_IN_FLIGHT (8): a burst, during which routine processing waits, 5 s at
  most (README, Scaling out; `serve` tells a worker process so over its pipe), so the
  5-second measurement is the receiver answering with the worker waiting; a longer flood is
  processed as it comes, beside the receiver.
- Latency: 100 deliveries per second at a fixed rate (open loop), p50 and p99 of the time
  from each request's scheduled send to its answer.

The load generator (bench/load.py) is Python on raw asyncio sockets, sharing the two cores
with the server; its own CPU per request is shown beside the ceiling. The platform notes
(PLATFORM.md §9) saw about 14,000/s from the same kind of route with wrk and, likely,
smaller bodies; the goal is checked against the ceiling measured here, in the same run.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import host, load, profile, servers, store_probe
from bench.deliveries import SECRET, mixed_source
from bench.results import Result, fmt

NAME = "ingest"
TITLE = "1. Ingest: accepted deliveries per second and answer latency"
LABELS = {
    "ceiling": "ceiling (bare FastAPI, verify only)",
    "sqlite": "sla-bot on SQLite",
    "postgresql": "sla-bot on PostgreSQL",
}


@dataclass(frozen=True)
class Plan:
    rounds: int
    seconds: float  # closed-loop measurement
    connections: int
    warmup: int  # requests before measuring
    rate: float  # fixed-rate test
    count: int


FULL = Plan(rounds=3, seconds=5.0, connections=32, warmup=300, rate=100.0, count=800)
QUICK = Plan(rounds=1, seconds=0.3, connections=2, warmup=4, rate=50.0, count=6)


def _server(target: str, port: int, db_url: str | None, log: Path) -> servers.Server:
    if target == "ceiling":
        env = servers.child_env(GITHUB_WEBHOOK_SECRET=SECRET)
        return servers.Server(servers.ceiling_command(port), port=port, env=env, log=log)
    assert db_url is not None
    env = servers.child_env(
        GITHUB_WEBHOOK_SECRET=SECRET,
        DATABASE_URL=db_url,
        SLA_SWEEP_INTERVAL="0",
        SLA_GITHUB_WRITE_RATE="0",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    return servers.Server(servers.slabot_command(port), port=port, env=env, log=log)


def processed(db_url: str) -> int:
    """Deliveries the worker finished (done) so far."""
    from sqlalchemy import func, select

    from app.store import make_engine
    from app.store.tables import deliveries

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(deliveries.c.status == "done")).scalar_one()
            )
    finally:
        engine.dispose()


@dataclass
class Figures:
    rate: list[float] = field(default_factory=list)
    p50_full: list[float] = field(default_factory=list)
    p99_full: list[float] = field(default_factory=list)
    p50_fixed: list[float] = field(default_factory=list)
    p99_fixed: list[float] = field(default_factory=list)
    worker_full: list[float] = field(default_factory=list)  # processed/s at full load
    cpu: list[float] = field(default_factory=list)  # server CPU µs per accepted delivery
    client_cpu: list[float] = field(default_factory=list)  # load generator CPU µs per request
    worker_fixed: list[float] = field(default_factory=list)  # processed/s during the rate test
    backlog_fixed: list[float] = field(default_factory=list)  # unprocessed after the rate test
    refused: dict[int, int] = field(default_factory=dict)

    def count(self, result: load.LoadResult) -> None:
        for status, n in result.statuses.items():
            if status != 202:
                self.refused[status] = self.refused.get(status, 0) + n
        if result.errors:
            self.refused[0] = self.refused.get(0, 0) + result.errors


def pending(db_url: str) -> int:
    """Deliveries stored and not yet processed."""
    from sqlalchemy import func, select

    from app.store import make_engine
    from app.store.tables import deliveries

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(deliveries.c.status == "pending")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def wait_drained(db_url: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while db_url and pending(db_url) and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass
class _Running:
    """One server under test and where its request numbering stands."""

    plan: Plan
    port: int
    pid: int
    db_url: str | None
    source: load.Source
    first: int = 0

    def done(self) -> int:
        return processed(self.db_url) if self.db_url else 0

    def warm(self) -> None:
        plan = self.plan
        load.run(
            lambda: load.closed_loop(
                self.port, self.source, seconds=30, connections=4, max_requests=plan.warmup
            )
        )
        self.first = plan.warmup
        wait_drained(self.db_url, 30)

    def fixed(self, figures: Figures, spy: Path | None) -> str:
        """The fixed-rate test; returns the py-spy summary when `spy` is given."""
        plan, done_before = self.plan, self.done()
        spying = (
            profile.start_pyspy(self.pid, plan.count / plan.rate, spy, gil=True) if spy else None
        )
        result = load.run(
            lambda: load.fixed_rate(
                self.port, self.source, rate=plan.rate, count=plan.count, first=self.first
            )
        )
        self.first += plan.count
        figures.p50_fixed.append(result.percentile(50))
        figures.p99_fixed.append(result.percentile(99))
        figures.count(result)
        if self.db_url:
            figures.worker_fixed.append((self.done() - done_before) / result.seconds)
            figures.backlog_fixed.append(pending(self.db_url))
        return profile.finish_pyspy(spying, spy) if spy else ""

    def full(self, figures: Figures, spy: Path | None) -> str:
        """The closed-loop test; returns the py-spy summary when `spy` is given."""
        plan, done_before = self.plan, self.done()
        spying = profile.start_pyspy(self.pid, plan.seconds, spy, gil=True) if spy else None
        cpu_before, own_before = host.process_cpu(self.pid), host.own_cpu()
        result = load.run(
            lambda: load.closed_loop(
                self.port,
                self.source,
                seconds=plan.seconds,
                connections=plan.connections,
                first=self.first,
            )
        )
        if result.accepted:
            server_cpu = host.process_cpu(self.pid) - cpu_before
            figures.cpu.append(server_cpu / result.accepted * 1e6)
            figures.client_cpu.append((host.own_cpu() - own_before) / result.sent * 1e6)
        if self.db_url:
            figures.worker_full.append((self.done() - done_before) / result.seconds)
        figures.rate.append(result.rate)
        figures.p50_full.append(result.percentile(50))
        figures.p99_full.append(result.percentile(99))
        figures.count(result)
        return profile.finish_pyspy(spying, spy) if spy else ""


def measure(
    target: str,
    plan: Plan,
    workdir: Path,
    figures: Figures,
    spy: Path | None = None,
    spy_on: str = "full",
) -> str:
    """One fresh server: warm up, the fixed-rate test, then the closed-loop test. With `spy`,
    py-spy samples the server during the `spy_on` test ("fixed" or "full"); profiling the
    closed loop skips the fixed-rate test."""
    port = servers.free_port()
    with servers.database(target if target != "ceiling" else "sqlite", workdir) as url:
        db_url = None if target == "ceiling" else url
        with _server(target, port, db_url, workdir / f"{target}.log") as server:
            assert server.process is not None
            source = mixed_source(port, uuid.uuid4().hex[:4])
            running = _Running(plan, port, server.process.pid, db_url, source)
            running.warm()
            summary = ""
            if spy is None or spy_on == "fixed":
                summary = running.fixed(figures, spy if spy_on == "fixed" else None)
            return running.full(figures, spy if spy_on == "full" else None) or summary


def run(quick: bool = False) -> list[Result]:
    plan = QUICK if quick else FULL
    targets = ["ceiling", *servers.backends()]
    found = {target: Figures() for target in targets}
    with tempfile.TemporaryDirectory(prefix="sla-bench-") as tmp:
        workdir = Path(tmp)
        for _ in range(plan.rounds):
            for target in targets:
                measure(target, plan, workdir, found[target])
        results = _results(plan, found)
        if not quick:
            _profile_misses(plan, results, workdir)
    return results


def _results(plan: Plan, found: dict[str, Figures]) -> list[Result]:
    ceiling = found["ceiling"]
    half = (sorted(ceiling.rate)[len(ceiling.rate) // 2] if ceiling.rate else 0.0) / 2
    out = []
    for target, figures in found.items():
        label = LABELS[target]
        refused = ", ".join(
            f"{n}× {s or 'connection errors'}" for s, n in sorted(figures.refused.items())
        )
        note = f"answers other than 202: {refused}" if refused else ""
        rate = Result(
            NAME, f"{label}: accepted deliveries/s", "/s", figures.rate, better="higher", note=note
        )
        if target != "ceiling":
            rate.goal = f"≥ half the ceiling (≥ {fmt(half)}/s)"
            rate.check(half)
        out.append(rate)
        where = "its own process" if "PostgreSQL" in label else "the same process"
        cpu_note = f"includes the worker's processing, in {where}"
        if target == "ceiling":
            cpu_note = f"the load generator used {fmt(_median(figures.client_cpu))} µs per request"
        out.append(
            Result(
                NAME,
                f"{label}: server CPU per accepted delivery",
                "µs",
                figures.cpu,
                note=cpu_note,
            )
        )
        out.append(
            Result(
                NAME,
                f"{label}: p99 at full load",
                "ms",
                figures.p99_full,
                note=f"p50 {fmt(_median(figures.p50_full))} ms",
            )
        )
        fixed = Result(
            NAME,
            f"{label}: p99 at {fmt(plan.rate)} deliveries/s",
            "ms",
            figures.p99_fixed,
            note=f"p50 {fmt(_median(figures.p50_fixed))} ms",
        )
        if target != "ceiling":
            fixed.goal = "< 50 ms"
            fixed.check(50.0)
        out.append(fixed)
        if figures.worker_fixed:
            backlog = fmt(_median(figures.backlog_fixed))
            out.append(
                Result(
                    NAME,
                    f"{label}: deliveries processed/s by the worker during the "
                    f"{fmt(plan.rate)}/s test",
                    "/s",
                    figures.worker_fixed,
                    better="higher",
                    note=f"keeps up if ≈ {fmt(plan.rate)}; {backlog} of {plan.count} "
                    "still queued at the end",
                )
            )
        if figures.worker_full:
            out.append(
                Result(
                    NAME,
                    f"{label}: deliveries processed/s by the worker at full load",
                    "/s",
                    figures.worker_full,
                    better="higher",
                    note=f"its handlers run in {where}; routine work waits out a burst (5 s "
                    "at most)",
                )
            )
    return out


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else float("nan")


def _profile_misses(plan: Plan, results: list[Result], workdir: Path) -> None:
    """A missed goal gets a py-spy profile of one more run of that server, in that phase;
    a missed throughput goal also gets the store-write probe (what was tried)."""
    probe = ""
    for result in results:
        if result.met is not False:
            continue
        target = next(t for t, label in LABELS.items() if result.name.startswith(label))
        phase = "full" if "accepted deliveries/s" in result.name else "fixed"
        host.wait_quiet(30)
        summary = measure(target, plan, workdir, Figures(), workdir / "spy.txt", phase)
        load_words = (
            f"the same closed-loop load ({plan.connections} connections)"
            if phase == "full"
            else f"{fmt(plan.rate)} deliveries/s"
        )
        result.detail = (
            f"`sla-bot serve` on {target} under {load_words}, profiled with py-spy while "
            f"it lasted:\n\n{summary}"
        )
        if phase == "full":
            probe = probe or store_probe.report(workdir)
            result.detail += (
                "\n\nWhat was tried: the store write alone, single-threaded in the benchmark "
                "process, as the receiver does it and in leaner forms (`bench/store_probe.py`):"
                f"\n\n{probe}"
            )


if __name__ == "__main__":  # pragma: no cover
    started = time.perf_counter()
    for r in run(quick=False):
        print(f"{r.name}: {fmt(r.median)} {r.unit} ({fmt(r.low)}..{fmt(r.high)}) {r.goal} {r.met}")
    print(f"{time.perf_counter() - started:.0f} s")
