"""Fair to every installation: one installation floods, another's work goes on.

`sla-bot serve` runs as a process against the FakeGitHub and FakeSlack stand-ins, served
on loopback in this process, which note when each GitHub write and each Slack post
arrives. Installation A floods 5,000 signed `issues.opened` deliveries (a backfill, a bot
storm) through the real receiver on 64 keep-alive connections; half a second into the
flood, installation B sends a Production-down request (a Problem form, all end users
affected), then a routine one. Figures: how long after its delivery B's production-down
issue was labeled at GitHub and its page reached Slack (goal: within 1 s each), and how
long B's routine request waited for its label while A's flood was still being processed,
with how many of A's issues were labeled by then (claims take turns by installation: B's
routine delivery does not wait for A's backlog). Run unpaced (SLA_GITHUB_WRITE_RATE=0: A's
writes go out as fast as they can) and at GitHub's pace (80).

    .venv/bin/python -m bench.fairness [--flood 5000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.types import Receive, Scope, Send

from bench import load, servers
from bench.deliveries import APP_ID, SECRET, guid, request_bytes
from bench.results import Result
from bench.urgent_first import DOWN_BODY, NORMAL_BODY, PAGE_CHANNEL, TimedSlack
from sla_sandbox.standins import FAKE_TOKEN, FakeGitHub

NAME = "fairness"
TITLE = "11. Fair to every installation: one floods 5,000 deliveries, another pages"

REPO_A, INSTALLATION_A = "flood/backfill", 4101
REPO_B, INSTALLATION_B = "calm/support", 4202
GOAL_MS = 1000.0
_LABEL_WRITE = re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/labels")


class LabelClock(FakeGitHub):
    """FakeGitHub noting when each label write arrives: (perf_counter, repo, issue)."""

    def __init__(self) -> None:
        super().__init__(APP_ID)
        self.labels: list[tuple[float, str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _LABEL_WRITE.fullmatch(scope["path"])
            if match:
                self.labels.append((time.perf_counter(), match[1], int(match[2])))
        await super().__call__(scope, receive, send)

    def labeled_at(self, repo: str, number: int) -> float | None:
        return next((at for at, r, n in self.labels if (r, n) == (repo, number)), None)


@dataclass(frozen=True)
class Outcome:
    database: str
    pacing: str
    flood: int
    flood_rate: float  # A's deliveries accepted a second
    label_s: float | None  # B's production-down delivery sent -> its label at GitHub
    page_s: float | None  # ... -> its page at Slack
    routine_s: float | None  # B's routine delivery sent -> its label at GitHub
    a_labeled_before_routine: int  # A's issues labeled when B's routine one was

    def line(self) -> str:
        def ms(value: float | None) -> str:
            return "never" if value is None else f"{value * 1000:.0f} ms"

        return (
            f"{self.database}, {self.pacing}: A flooded {self.flood} at {self.flood_rate:.0f}/s; "
            f"B's production down labeled after {ms(self.label_s)}, paged after "
            f"{ms(self.page_s)}; B's routine one labeled after {ms(self.routine_s)}, with "
            f"{self.a_labeled_before_routine} of A's {self.flood} labeled by then"
        )


def _body(github: FakeGitHub, repo: str, number: int) -> bytes:
    payload = github.payload("issues", "opened", repo, number)
    return json.dumps(payload, separators=(",", ":")).encode()


def _open(github: FakeGitHub, repo: str, body: str, count: int) -> list[int]:
    return [
        int(github.open_issue(repo, title="Request", body=body, user="wile-e")["number"])
        for _ in range(count)
    ]


def _env(github: FakeGitHub, slack_url: str, db_url: str, write_rate: str) -> dict[str, str]:
    assert github.private_key_pem is not None
    return servers.child_env(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_ID=APP_ID,
        GITHUB_PRIVATE_KEY=github.private_key_pem,
        GITHUB_API_URL=github.api_url,
        SLACK_BOT_TOKEN=FAKE_TOKEN,
        SLACK_API_URL=slack_url,
        SLACK_CHANNEL="#support",
        DATABASE_URL=db_url,
        SLA_SWEEP_INTERVAL="0",
        SLA_REDELIVER_INTERVAL="0",
        SLA_RECONCILE_INTERVAL="0",
        SLA_GITHUB_WRITE_RATE=write_rate,
    )


def measure(flood: int, backend: str, write_rate: str, workdir: Path) -> Outcome:
    github, slack = LabelClock(), TimedSlack()
    github.add_repo(REPO_A, INSTALLATION_A)
    github.add_repo(REPO_B, INSTALLATION_B)
    with github.serve(), slack.serve(), servers.database(backend, workdir) as db_url:
        port, tag = servers.free_port(), uuid.uuid4().hex[:4]
        (warm_a,) = _open(github, REPO_A, NORMAL_BODY, 1)
        (warm_b,) = _open(github, REPO_B, NORMAL_BODY, 1)
        numbers = _open(github, REPO_A, NORMAL_BODY, flood)
        (down,) = _open(github, REPO_B, DOWN_BODY, 1)
        (routine,) = _open(github, REPO_B, NORMAL_BODY, 1)
        flood_requests = [
            request_bytes(port, "issues", guid(tag, i), _body(github, REPO_A, n))
            for i, n in enumerate(numbers)
        ]

        def one(name: str, repo: str, number: int) -> None:
            data = request_bytes(port, "issues", f"{tag}-{name}", _body(github, repo, number))
            load.run(
                lambda: load.closed_loop(
                    port, lambda _: data, seconds=30, connections=1, max_requests=1
                )
            )

        log = workdir / f"fairness-{backend}-{write_rate}.log"
        env = _env(github, slack.api_url, db_url, write_rate)
        with servers.Server(servers.slabot_command(port), port=port, env=env, log=log):
            # Warm-up: each installation's token and (absent) policy file, then cached.
            one("warm-a", REPO_A, warm_a)
            one("warm-b", REPO_B, warm_b)
            _wait(lambda: len(github.labels) >= 2, 30)
            flooding: list[load.LoadResult] = []
            flooder = threading.Thread(
                target=lambda: flooding.append(
                    load.run(
                        lambda: load.closed_loop(
                            port,
                            flood_requests.__getitem__,
                            seconds=300,
                            connections=64,
                            max_requests=flood,
                        )
                    )
                )
            )
            flooder.start()
            time.sleep(0.5)  # the flood is under way
            sent = time.perf_counter()
            one("down", REPO_B, down)
            routine_sent = time.perf_counter()
            one("routine", REPO_B, routine)
            _wait(lambda: github.labeled_at(REPO_B, down) and _page(slack), 60)
            _wait(lambda: github.labeled_at(REPO_B, routine), 120)
            flooder.join()
    label_at, page_at = github.labeled_at(REPO_B, down), _page(slack)
    routine_at = github.labeled_at(REPO_B, routine)
    a_labeled = sum(
        1
        for at, repo, n in github.labels
        if repo == REPO_A and n != warm_a and routine_at is not None and at <= routine_at
    )
    result = flooding[0]
    return Outcome(
        database=backend,
        pacing="unpaced" if write_rate == "0" else f"paced ({write_rate}/min)",
        flood=flood,
        flood_rate=result.rate,
        label_s=None if label_at is None else label_at - sent,
        page_s=None if page_at is None else page_at - sent,
        routine_s=None if routine_at is None else routine_at - routine_sent,
        a_labeled_before_routine=a_labeled,
    )


def _page(slack: TimedSlack) -> float | None:
    return next((at for at, channel, _ in slack.posts if channel == PAGE_CHANNEL), None)


def _wait(done: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.005)


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: every database that answers, unpaced and at GitHub's pace."""
    flood, rates = (40, ["0"]) if quick else (5000, ["0", "80"])
    backends = ["sqlite"] if quick else servers.backends()
    out = []
    with tempfile.TemporaryDirectory(prefix="sla-fair-") as tmp:
        for backend in backends:
            for rate in rates:
                out += _results(measure(flood, backend, rate, Path(tmp)))
    return out


def _results(found: Outcome) -> list[Result]:
    where = f"{found.database}, {found.pacing}"
    note = f"A's flood: {found.flood} deliveries at {found.flood_rate:,.0f}/s"
    return [
        Result(
            NAME,
            f"{where}: B's production-down label at GitHub, after its delivery",
            "ms",
            [_ms(found.label_s)],
            goal="< 1,000 ms",
            note=note,
        ).check(GOAL_MS),
        Result(
            NAME,
            f"{where}: B's production-down page at Slack, after its delivery",
            "ms",
            [_ms(found.page_s)],
            goal="< 1,000 ms",
        ).check(GOAL_MS),
        Result(
            NAME,
            f"{where}: B's routine label at GitHub, after its delivery",
            "ms",
            [_ms(found.routine_s)],
            note=f"{found.a_labeled_before_routine} of A's {found.flood} labeled by then",
        ),
    ]


def _ms(seconds: float | None) -> float:
    return float("inf") if seconds is None else seconds * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=5000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rates", default="0,80", help="SLA_GITHUB_WRITE_RATE values to run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-fair-") as tmp:
        for rate in args.rates.split(","):
            outcome = measure(args.flood, args.database, rate, Path(tmp))
            print(f"RESULT {json.dumps(outcome.__dict__)}")
            print(outcome.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
