"""Urgent first: a production-down issue behind a backlog of 1,500 routine ones.

`sla-bot serve` runs as a process against the FakeGitHub and FakeSlack stand-ins
(sla_sandbox/standins), served on loopback in this process, which note when each GitHub write and
each Slack post arrives. 1,500 `issues.opened` deliveries for Normal requests are sent at
once (64 keep-alive connections); as soon as they are all answered, one Production-down
request (a Problem form, all end users affected) is sent. Figures: how long after its
delivery the on-call page reached Slack (goal: within 5 s), and how many GitHub writes
reached GitHub after its delivery was answered and before its label (goal: none: its
label is the first GitHub write after it). Run unpaced (SLA_GITHUB_WRITE_RATE=0, the
hardest case: the backlog's writes go out as fast as they can) and with default pacing.

    .venv/bin/python -m bench.urgent_first [--backlog 1500] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

from bench import load, servers
from bench.deliveries import APP_ID, FORM_BODY, INSTALLATION, REPO, SECRET, guid, request_bytes
from bench.results import Result
from sla_sandbox.standins import FAKE_TOKEN, FakeGitHub, FakeSlack

NAME = "urgent"
TITLE = "6. Urgent first: a production-down issue behind 1,500 routine ones"

URGENT_LINE = "Urgent — blocking work or affecting end users (response within 1 business hour)"
NORMAL_BODY = FORM_BODY.replace(
    URGENT_LINE, "Normal — everything else (response by end of the next business day)"
)
DOWN_BODY = FORM_BODY.replace(
    URGENT_LINE,
    "Production down — many end users cannot work (Problem/Troubleshooting only; on-call is "
    "paged, response within 30 minutes 24/7)",
).replace("A few (up to 10)", "All end users")
_ISSUE_WRITE = re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+)/(labels|comments)")
PAGE_CHANNEL = "#on-call"


class TimedGitHub(FakeGitHub):
    """FakeGitHub noting each issue write as it arrives: (perf_counter, issue, what)."""

    def __init__(self) -> None:
        super().__init__(APP_ID)
        self.writes: list[tuple[float, int, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT", "DELETE"):
            match = _ISSUE_WRITE.fullmatch(scope["path"])
            if match:
                self.writes.append((time.perf_counter(), int(match[1]), match[2]))
        await super().__call__(scope, receive, send)


class TimedSlack(FakeSlack):
    """FakeSlack noting when each message arrives: (perf_counter, channel, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[float, str, str]] = []

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        self.posts.append((time.perf_counter(), str(body.get("channel")), str(body.get("text"))))
        return super()._post(body)


@dataclass(frozen=True)
class Outcome:
    pacing: str
    backlog: int
    backlog_labeled_when_sent: int  # routine label calls already at GitHub when it was sent
    page_s: float | None  # its delivery sent -> the page at Slack
    label_s: float | None  # its delivery sent -> its label call at GitHub
    writes_between: int | None  # GitHub writes after its 202, before its label
    first_write_after: str  # what the first GitHub write after its 202 was

    def line(self) -> str:
        page = "never" if self.page_s is None else f"{self.page_s * 1000:.0f} ms"
        label = "never" if self.label_s is None else f"{self.label_s * 1000:.0f} ms"
        return (
            f"{self.pacing}: backlog {self.backlog} (labeled when the urgent one was sent: "
            f"{self.backlog_labeled_when_sent}); page at Slack after {page}; label at GitHub "
            f"after {label}; GitHub writes between its 202 and its label: "
            f"{self.writes_between}; first GitHub write after its 202: {self.first_write_after}"
        )


def _body(github: FakeGitHub, number: int) -> bytes:
    return json.dumps(
        github.payload("issues", "opened", REPO, number), separators=(",", ":")
    ).encode()


def measure(backlog: int, backend: str, write_rate: str, workdir: Path) -> Outcome:
    github, slack = TimedGitHub(), TimedSlack()
    github.add_repo(REPO, INSTALLATION)
    with github.serve(), slack.serve(), servers.database(backend, workdir) as db_url:
        assert github.private_key_pem is not None
        port = servers.free_port()
        env = servers.child_env(
            GITHUB_WEBHOOK_SECRET=SECRET,
            GITHUB_APP_ID=APP_ID,
            GITHUB_PRIVATE_KEY=github.private_key_pem,
            GITHUB_API_URL=github.api_url,
            SLACK_BOT_TOKEN=FAKE_TOKEN,
            SLACK_API_URL=slack.api_url,
            SLACK_CHANNEL="#support",
            DATABASE_URL=db_url,
            SLA_SWEEP_INTERVAL="0",
            SLA_GITHUB_WRITE_RATE=write_rate,
        )
        tag = uuid.uuid4().hex[:4]
        numbers = [
            int(github.open_issue(REPO, title="Routine", body=NORMAL_BODY, user="wile-e")["number"])
            for _ in range(backlog + 2)
        ]
        down = int(
            github.open_issue(REPO, title="Checkout is down", body=DOWN_BODY, user="kim")["number"]
        )
        requests = [
            request_bytes(port, "issues", guid(tag, i), _body(github, n))
            for i, n in enumerate(numbers)
        ]
        urgent = request_bytes(port, "issues", guid(tag, len(numbers)), _body(github, down))
        log = workdir / f"urgent-{backend}-{write_rate}.log"
        with servers.Server(servers.slabot_command(port), port=port, env=env, log=log):
            # Warm-up: the token and the (absent) policy file, then cached.
            load.run(lambda: load.fixed_rate(port, requests.__getitem__, rate=10, count=2))
            _wait(lambda: len(github.writes) >= 2, 30)
            load.run(
                lambda: load.closed_loop(
                    port,
                    requests.__getitem__,
                    seconds=120,
                    connections=64,
                    first=2,
                    max_requests=backlog,
                )
            )
            labeled = sum(1 for _, n, what in github.writes if what == "labels" and n != down)
            sent = time.perf_counter()
            load.run(
                lambda: load.closed_loop(
                    port,
                    lambda _: urgent,
                    seconds=30,
                    connections=1,
                    max_requests=1,
                )
            )
            answered = time.perf_counter()
            _wait(lambda: _label_at(github, down) is not None and _page_at(slack) is not None, 60)
    label_at, page_at = _label_at(github, down), _page_at(slack)
    after = [(at, n, what) for at, n, what in github.writes if at >= answered]
    between = None if label_at is None else sum(1 for at, _, _ in after if at < label_at)
    first = "none" if not after else f"{after[0][2]} on #{after[0][1]}"
    if after and after[0][1] == down:
        first = f"{after[0][2]} on the production-down issue"
    return Outcome(
        pacing="unpaced (SLA_GITHUB_WRITE_RATE=0)"
        if write_rate == "0"
        else f"paced (SLA_GITHUB_WRITE_RATE={write_rate})",
        backlog=backlog,
        backlog_labeled_when_sent=labeled,
        page_s=None if page_at is None else page_at - sent,
        label_s=None if label_at is None else label_at - sent,
        writes_between=between,
        first_write_after=first,
    )


def _label_at(github: TimedGitHub, number: int) -> float | None:
    return next((at for at, n, what in github.writes if n == number and what == "labels"), None)


def _page_at(slack: TimedSlack) -> float | None:
    return next((at for at, channel, _ in slack.posts if channel == PAGE_CHANNEL), None)


def _wait(done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.005)


def run(quick: bool = False) -> list[Result]:
    """`python -m bench`: SQLite, unpaced and with the default pace."""
    backlog, rates = (20, ["0"]) if quick else (1500, ["0", "80"])
    out = []
    with tempfile.TemporaryDirectory(prefix="sla-urgent-") as tmp:
        for rate in rates:
            found = measure(backlog, "sqlite", rate, Path(tmp))
            note = (
                f"{found.backlog} routine deliveries answered first; "
                f"{found.backlog_labeled_when_sent} of them labeled when it was sent"
            )
            out += [
                Result(
                    NAME,
                    f"{found.pacing}: its page at Slack, after its delivery",
                    "ms",
                    [_ms(found.page_s)],
                    goal="< 5,000 ms",
                    note=note,
                ).check(5000.0),
                Result(
                    NAME,
                    f"{found.pacing}: its label at GitHub, after its delivery",
                    "ms",
                    [_ms(found.label_s)],
                ),
                Result(
                    NAME,
                    f"{found.pacing}: GitHub writes arriving between its 202 and its label",
                    "",
                    [float(found.writes_between if found.writes_between is not None else -1)],
                    goal="0 (its label first)",
                    note="routine writes already sent when it arrived (at most one wave of "
                    f"16) still land after it; the first write after its 202: "
                    f"{found.first_write_after}",
                ).check(0.0),
            ]
    return out


def _ms(seconds: float | None) -> float:
    return float("inf") if seconds is None else seconds * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=1500)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rates", default="0,80", help="SLA_GITHUB_WRITE_RATE values to run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sla-urgent-") as tmp:
        for rate in args.rates.split(","):
            outcome = measure(args.backlog, args.database, rate, Path(tmp))
            print(f"RESULT {json.dumps(outcome.__dict__)}")
            print(outcome.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
